"""s3lab: learn S3 object storage from the aws command, boto3 and a mounted folder.

The few functions a notebook calls are re-exported here, grouped by the module that owns them.
"""

from s3lab.backends import Backend, backend_name, resolve, use
from s3lab.buckets import make_bucket, unique_name
from s3lab.errors import S3LabError

__all__ = [
    # backends: where requests go
    "Backend",
    "backend_name",
    "resolve",
    "use",
    # buckets: names and the region constraint
    "make_bucket",
    "unique_name",
    # errors
    "S3LabError",
]
