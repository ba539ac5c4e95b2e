"""Every ``S3LAB_*`` variable, read in one function, and the AWS variables s3lab touches.

A leaf module: it imports nothing from s3lab, so any module may ask it. Reading the environment
in one place means a reader can see every switch at a glance, and a test can build a
:class:`Settings` from a plain dict instead of patching ``os.environ``.

The variables:

- ``S3LAB_BACKEND``: where S3 requests go: ``moto`` (default), ``server``, ``ceph``, ``aws``,
  ``kopah`` or ``class`` (a learner's seat in ``s3lab classroom``).
- ``S3LAB_PROFILE``: the AWS profile for ``aws``/``kopah``/``class`` (else ``AWS_PROFILE``).
- ``S3LAB_HOME``: where s3lab keeps its state: sandboxes, mount records (default ``~/.s3lab``).
- ``S3LAB_AWSCLI_URL``, ``S3LAB_AWSCLI_KEY_URL``, ``S3LAB_AWSCLI_FINGERPRINT``,
  ``S3LAB_MOUNTPOINT_URL``, ``S3LAB_MOUNTPOINT_KEY_URL``, ``S3LAB_MOUNTPOINT_FINGERPRINT``:
  where ``s3lab install`` downloads from and which signing keys it trusts (tests point them at
  a local stand-in; fingerprints are comma-separated).
- ``S3LAB_AWSCLI_SOURCE``: the AWS CLI v2 that set-up installs into ``.venv-awscli``: a source
  tarball (``awscli-2.X.Y.tar.gz``, built with pip) or an official installer zip (its ``.sig``
  beside it); unset, set-up downloads the official zip, or keeps PyPI's v1 when it cannot.
- ``S3LAB_DOWNLOAD_RETRIES``, ``S3LAB_DOWNLOAD_BACKOFF``, ``S3LAB_DOWNLOAD_TIMEOUT``: how
  patient downloads are.
- ``S3LAB_CONNECT_TIMEOUT``, ``S3LAB_READ_TIMEOUT``, ``S3LAB_ATTEMPTS``: how patient every S3
  client is (seconds, seconds, tries in all; see :mod:`s3lab.clients`).
- ``S3LAB_DIRECT_IO``: whether a download writes its file past the kernel's page cache:
  ``auto`` (default: where the page cache is slow to fill, see
  :func:`s3lab.buckets.engines.page_cache_is_slow`), ``on`` or ``off``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# What a sandbox puts into the environment so that boto3 *and* the aws command reach it; and
# AWS_PAGER empty, so that CLI v2 in a terminal prints its answer instead of opening `less`.
SANDBOX_SETS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PAGER",
    "S3LAB_BACKEND",
)
# What a sandbox removes: each would quietly interfere with its settings (a session token breaks
# the signature, the S3-only endpoint overrides the general one, a profile may not exist here).
SANDBOX_CLEARS = ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE")
# What switching to a cloud backend removes, so the sandbox's endpoint and fake keys do not
# follow the learner to AWS.
CLOUD_CLEARS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
)


# What a role-only VM's environment does not have: keys, a profile, a region, a sandbox.
VM_UNSETS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_EC2_METADATA_DISABLED",
    "S3LAB_BACKEND",
    "S3LAB_PROFILE",
)


# Where the aws command and boto3 find an S3 endpoint in the environment, the first one first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class Settings:
    """The ``S3LAB_*`` variables as typed values; ``None`` or empty where a variable is unset."""

    backend: str | None = None
    profile: str | None = None
    home: Path = Path("~/.s3lab")
    awscli_url: str | None = None
    awscli_key_url: str | None = None
    awscli_fingerprints: tuple[str, ...] = ()
    awscli_source: Path | None = None
    mountpoint_url: str | None = None
    mountpoint_key_url: str | None = None
    mountpoint_fingerprints: tuple[str, ...] = ()
    download_retries: int | None = None
    download_backoff: float | None = None
    download_timeout: float | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    attempts: int | None = None
    direct_io: str = "auto"


def _number(
    env: Mapping[str, str], name: str, kind: type[int] | type[float], *, zero: bool = False
) -> int | float | None:
    """A positive number (or 0, with ``zero``), or None when unset.

    0, a negative or ``nan`` would quietly mean the default (or a client that never waits), so
    they are refused, like a word.
    """
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not (value >= 0 if zero else value > 0) or value == float("inf"):
        # Imported here: errors imports nothing from s3lab either, but keep this module a leaf.
        from s3lab.errors import UsageError

        least = "of 0 or more" if zero else "above 0"
        raise UsageError(
            f"{name}={raw!r} is not a number {least}", f"set {name} to one, or unset it"
        )
    return value


def _url(env: Mapping[str, str], name: str) -> str | None:
    return (env.get(name) or "").strip().rstrip("/") or None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (env.get(name) or "").split(",") if part.strip())


#: What ``S3LAB_DIRECT_IO`` may say.
DIRECT_IO_CHOICES = ("auto", "on", "off")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first when unset); any other word is refused, not ignored."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        from s3lab.errors import UsageError  # as in _number: keep this module a leaf

        raise UsageError(
            f"{name}={raw!r} is not one of {', '.join(choices)}",
            f"set {name} to one of them, or unset it",
        )
    return raw


def read(env: Mapping[str, str] | None = None) -> Settings:
    """Read every ``S3LAB_*`` variable from ``env`` (default: this process's environment)."""
    env = os.environ if env is None else env
    home = (env.get("S3LAB_HOME") or "").strip()
    return Settings(
        backend=(env.get("S3LAB_BACKEND") or "").strip() or None,
        profile=(env.get("S3LAB_PROFILE") or "").strip() or None,
        home=Path(home) if home else Path.home() / ".s3lab",
        awscli_url=_url(env, "S3LAB_AWSCLI_URL"),
        awscli_key_url=_url(env, "S3LAB_AWSCLI_KEY_URL"),
        awscli_fingerprints=_list(env, "S3LAB_AWSCLI_FINGERPRINT"),
        awscli_source=Path(source).expanduser()
        if (source := _url(env, "S3LAB_AWSCLI_SOURCE"))
        else None,
        mountpoint_url=_url(env, "S3LAB_MOUNTPOINT_URL"),
        mountpoint_key_url=_url(env, "S3LAB_MOUNTPOINT_KEY_URL"),
        mountpoint_fingerprints=_list(env, "S3LAB_MOUNTPOINT_FINGERPRINT"),
        download_retries=_number(env, "S3LAB_DOWNLOAD_RETRIES", int, zero=True),  # type: ignore[arg-type]
        download_backoff=_number(env, "S3LAB_DOWNLOAD_BACKOFF", float),
        download_timeout=_number(env, "S3LAB_DOWNLOAD_TIMEOUT", float),
        connect_timeout=_number(env, "S3LAB_CONNECT_TIMEOUT", float),
        read_timeout=_number(env, "S3LAB_READ_TIMEOUT", float),
        attempts=_number(env, "S3LAB_ATTEMPTS", int),  # type: ignore[arg-type]
        direct_io=_choice(env, "S3LAB_DIRECT_IO", DIRECT_IO_CHOICES),
    )


def home(env: Mapping[str, str] | None = None) -> Path:
    """The folder for s3lab's own state (``$S3LAB_HOME``, default ``~/.s3lab``)."""
    return read(env).home


def first_set(
    names: tuple[str, ...], env: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """The first of ``names`` set in ``env`` (default: this process's), and its value, or None.

    For ``s3lab configure list``, which says where a value comes from, as ``aws configure list``
    does: the variables are read here, where every variable s3lab reads is named.
    """
    env = os.environ if env is None else env
    return next(((name, env[name]) for name in names if env.get(name)), None)
