"""s3lab: learn S3 object storage from the aws command, boto3 and a mounted folder.

This is the public API: exactly the names the notebooks use (a test keeps it so), grouped by
the module that owns them. A reader who wonders what ``s3lab.put`` does opens
``s3lab/transfer.py`` and finds ``put`` near the top. Every module does one job:

=====================  ===============================================================
``settings``           every ``S3LAB_*`` variable, read in one function
``errors``             the exception family and the one table from AWS errors to fixes
``processes``          start a child, and signal it only while it is still that child
``backends``           where requests go: the sandboxes, AWS or Kopah
``sandbox``            the local S3 servers (moto, SeaweedFS; Ceph through ``ceph``)
``ceph``               a one-node Ceph with its S3 gateway, to rehearse Kopah
``awsfiles``           the ``~/.aws`` files, written as ``aws configure`` writes them
``regions``            region names, checked offline, with "did you mean"
``configure``          profiles: your keys, Kopah, the sandbox
``doctor``             the ordered checks, each with a fix
``machine``            what this machine is and has (OS, architecture, programs)
``download``           downloads that resume, signatures, archives
``install*``           install plans for the AWS CLI, Mountpoint and the alternatives
``names``              bucket naming rules and unique names
``buckets``            make, list, remove, clean up
``transfer``           put, get, sync
``copy``               a bucket from one store to another, streamed, resumable, verified
``cost``               prices as data, and the arithmetic
``mount``, ``mount_*``  mount, unmount; each tool's command line; what a mount does
``imds``               a local stand-in for EC2's instance metadata service (IMDSv2)
``checks``             the exercises and their self-checks
``notebooks``          run every notebook against a backend, then clean up; the book's policy
``cli``                the ``s3lab`` command, a module per job: the only code that prints
=====================  ===============================================================
"""

from s3lab.awsfiles import config_path, credentials_path
from s3lab.backends import Backend, backend_name, rehearse, resolve, use
from s3lab.buckets import cleanup, client_for, make_bucket, remove_bucket, usage
from s3lab.checks import check
from s3lab.configure import configure_sandbox
from s3lab.cost import bucket_cost, fill_cost, seed_arithmetic
from s3lab.doctor import doctor
from s3lab.download import pretty_fingerprint
from s3lab.errors import S3LabError, translate
from s3lab.imds import start_instance_role
from s3lab.install_plan import AWSCLI_FINGERPRINT
from s3lab.mount import mounts, unmount, unmount_all, unmount_at_exit
from s3lab.mount_semantics import compare, semantics
from s3lab.mount_tools import pick_tool
from s3lab.names import NAME_RULES, unique_name, validate
from s3lab.notebooks import book_policy
from s3lab.regions import check_region
from s3lab.sandbox import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY
from s3lab.transfer import get, put, sync

__all__ = [
    # backends: where requests go
    "Backend",
    "backend_name",
    "rehearse",  # where the Kopah chapter rehearses: the ceph sandbox, else SeaweedFS
    "resolve",
    "use",
    # sandbox: the documented fake keys it uses
    "FAKE_ACCESS_KEY_ID",
    "FAKE_SECRET_ACCESS_KEY",
    # configure, regions, awsfiles, doctor
    "check_region",
    "config_path",
    "configure_sandbox",
    "credentials_path",
    "doctor",
    # imds: a local stand-in for EC2's instance metadata service (the VM chapter)
    "start_instance_role",
    # notebooks: the IAM policy that covers the book
    "book_policy",
    # install: what the signature check trusts
    "AWSCLI_FINGERPRINT",
    "pretty_fingerprint",
    # names
    "NAME_RULES",
    "unique_name",
    "validate",
    # buckets
    "cleanup",
    "client_for",
    "make_bucket",
    "remove_bucket",
    "usage",
    # transfer
    "get",
    "put",
    "sync",
    # cost
    "bucket_cost",
    "fill_cost",
    "seed_arithmetic",
    # mount: the folder, and what a mounted bucket does
    "compare",
    "mounts",
    "pick_tool",
    "semantics",
    "unmount",
    "unmount_all",
    "unmount_at_exit",
    # checks: is an exercise done?
    "check",
    # errors
    "S3LabError",
    "translate",
]
