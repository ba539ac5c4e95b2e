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
``classroom``          a class on the SeaweedFS sandbox, a key per learner
``notebooks``          run every notebook against a backend, then clean up; the book's policy
``cli``                the ``s3lab`` command, a module per job: the only code that prints
=====================  ===============================================================
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names are, for mypy and editors; at run time see __getattr__
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

#: Where each public name lives. Importing ``s3lab`` imports none of them: the first use of
#: ``s3lab.put`` imports ``s3lab.transfer`` (PEP 562), so ``s3lab bucket remove`` pays only
#: for the modules it uses, not for the mounts, the installer or the transfer engine.
_WHERE = {
    "config_path": "awsfiles",
    "credentials_path": "awsfiles",
    "Backend": "backends",
    "backend_name": "backends",
    "rehearse": "backends",
    "resolve": "backends",
    "use": "backends",
    "cleanup": "buckets",
    "client_for": "buckets",
    "make_bucket": "buckets",
    "remove_bucket": "buckets",
    "usage": "buckets",
    "check": "checks",
    "configure_sandbox": "configure",
    "bucket_cost": "cost",
    "fill_cost": "cost",
    "seed_arithmetic": "cost",
    "doctor": "doctor",
    "pretty_fingerprint": "download",
    "S3LabError": "errors",
    "translate": "errors",
    "start_instance_role": "imds",
    "AWSCLI_FINGERPRINT": "install_plan",
    "mounts": "mount",
    "unmount": "mount",
    "unmount_all": "mount",
    "unmount_at_exit": "mount",
    "compare": "mount_semantics",
    "semantics": "mount_semantics",
    "pick_tool": "mount_tools",
    "NAME_RULES": "names",
    "unique_name": "names",
    "validate": "names",
    "book_policy": "notebooks",
    "check_region": "regions",
    "FAKE_ACCESS_KEY_ID": "sandbox",
    "FAKE_SECRET_ACCESS_KEY": "sandbox",
    "get": "transfer",
    "put": "transfer",
    "sync": "transfer",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use; ``s3lab.buckets`` etc. work as before."""
    module = _WHERE.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"s3lab.{module}"), name)
    else:
        try:
            value = importlib.import_module(f"s3lab.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"s3lab.{name}":
                raise
            raise AttributeError(f"module 's3lab' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package itself, with one rule: a submodule never hides the public name it shares.

    Importing ``s3lab.doctor`` (the module) sets the package's attribute ``doctor``; the public
    ``s3lab.doctor`` is the function, as it was when this file imported everything eagerly.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
