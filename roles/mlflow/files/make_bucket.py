"""Make MLflow's artifact bucket if it is missing; print "created" if made.

Run with the MLflow image's boto3 and the server's own S3 settings
(MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); the
bucket's name is the only argument.
"""

import os
import sys

import boto3
import botocore.exceptions

bucket = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
try:
    s3.head_bucket(Bucket=bucket)
except botocore.exceptions.ClientError as error:
    if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
        raise
    s3.create_bucket(Bucket=bucket)
    print("created", bucket)
