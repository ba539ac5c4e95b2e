"""s3lab: learn S3 object storage from the aws command, boto3 and a mounted folder.

The few functions a notebook calls are re-exported here, grouped by the module that owns them.
"""

from s3lab.backends import Backend, backend_name, resolve, use
from s3lab.buckets import (
    bucket_cost,
    cleanup,
    client_for,
    get,
    make_bucket,
    put,
    remove_bucket,
    seed_arithmetic,
    sync,
    unique_name,
    usage,
    validate,
)
from s3lab.configure import check_region, configure_sandbox, doctor
from s3lab.errors import S3LabError

__all__ = [
    # backends: where requests go
    "Backend",
    "backend_name",
    "resolve",
    "use",
    # buckets: names, make, copy, remove, cost
    "bucket_cost",
    "cleanup",
    "client_for",
    "get",
    "make_bucket",
    "put",
    "remove_bucket",
    "seed_arithmetic",
    "sync",
    "unique_name",
    "usage",
    "validate",
    # configure: profiles, region checks, doctor
    "check_region",
    "configure_sandbox",
    "doctor",
    # errors
    "S3LabError",
]
