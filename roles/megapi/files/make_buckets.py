# Run inside megapi's image: make each bucket of argv[1] (comma-separated)
# that MinIO does not have, with megapi's own settings and client.
import os
import sys

from minio import Minio

client = Minio(os.environ["MINIO_ENDPOINT"], access_key=os.environ["MINIO_ACCESS_KEY"],
               secret_key=os.environ["MINIO_SECRET_KEY"], secure=False)
for bucket in sys.argv[1].split(","):
    if client.bucket_exists(bucket):
        print("present", bucket)
    else:
        client.make_bucket(bucket)
        print("created", bucket)
