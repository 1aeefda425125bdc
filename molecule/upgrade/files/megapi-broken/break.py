"""The start of a megapi version that damages its data, then fails.

Deletes every row of the library table and every object of every bucket
(MLflow's artifacts live in megapi's MinIO too), then exits with 3. It
exits with 3 only once all of it is done: the test reads that exit code in
the engine's events to know the damage happened before the rollback.
"""

import os
import sys

import psycopg2
from minio import Minio

# megapi's own Postgres driver and client, from its requirements.
db = psycopg2.connect(os.environ["DATABASE_URL"])
db.autocommit = True
table = os.environ["POSTGRE_MUSIC_TABLE"]
with db.cursor() as cursor:
    cursor.execute(f'DELETE FROM "{table}"')
    deleted = cursor.rowcount
db.close()
print(f"deleted {deleted} rows of {table}", flush=True)

s3 = Minio(os.environ["MINIO_ENDPOINT"], access_key=os.environ["MINIO_ACCESS_KEY"],
           secret_key=os.environ["MINIO_SECRET_KEY"], secure=False)
for bucket in s3.list_buckets():
    for item in list(s3.list_objects(bucket.name, recursive=True)):
        s3.remove_object(bucket.name, item.object_name)
    print(f"emptied the bucket {bucket.name}", flush=True)

print("this version cannot start", file=sys.stderr, flush=True)
sys.exit(3)
