"""s3lab: learn S3 object storage from the aws command, boto3 and a mounted folder.

The few functions a notebook calls are re-exported here, grouped by the module that owns them.
"""

from s3lab.backends import Backend, backend_name, resolve, use
from s3lab.buckets import cleanup, client_for, make_bucket, remove_bucket, usage
from s3lab.configure import check_region, configure_sandbox, doctor
from s3lab.cost import bucket_cost, seed_arithmetic
from s3lab.errors import S3LabError
from s3lab.names import unique_name, validate
from s3lab.transfer import get, put, sync

__all__ = [
    # backends: where requests go
    "Backend",
    "backend_name",
    "resolve",
    "use",
    # buckets: make, remove, usage, cleanup
    "cleanup",
    "client_for",
    "make_bucket",
    "remove_bucket",
    "usage",
    # names: the rules and generated names
    "unique_name",
    "validate",
    # transfer: copies
    "get",
    "put",
    "sync",
    # cost: prices and the 9 EB sum
    "bucket_cost",
    "seed_arithmetic",
    # configure: profiles, region checks, doctor
    "check_region",
    "configure_sandbox",
    "doctor",
    # errors
    "S3LabError",
]
