"""How patient every S3 or STS client s3lab makes is: timeouts and retries, in one place.

A server that accepts connections and never answers must not hang a command: each request
gives up after :data:`CONNECT_TIMEOUT` seconds to connect and :data:`READ_TIMEOUT` seconds of
silence, and is tried :data:`ATTEMPTS` times in all with botocore's *standard* retry mode
(exponential backoff with jitter; throttling and 5xx answers retried too). The worst case for
one request is therefore ``ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT)`` plus the backoff
between tries (at most 1 s, then 2 s): ``3 * (3 + 6) + 1 + 2 = 30`` seconds. The three numbers
are chosen together for that total: a learner who mistypes a port waits at most half a minute
for the one-line error (measured with a server that accepts connections and never answers:
``bucket list`` gives up after about 20 s, since connecting to it is instant), while 6 s of
silence is still far longer than a busy sandbox or AWS takes to start answering a request.
Every bucket verb stops at its first request that gives up, so this total is the verb's too;
the troubleshooting page of the book says the same.

``S3LAB_CONNECT_TIMEOUT``, ``S3LAB_READ_TIMEOUT`` and ``S3LAB_ATTEMPTS`` (read by
:mod:`s3lab.settings`) change them, e.g. on a slow link. The copy engine on the Common Runtime,
which botocore's settings do not reach, uses the same numbers (see :func:`stall_seconds`), and
so do the mount programs: rclone's ``--contimeout``/``--timeout``/``--low-level-retries`` and
s3fs's ``connect_timeout``/``readwrite_timeout``/``retries`` (see :mod:`s3lab.mount.tools`), so
a read under the mount of a dead server fails instead of hanging for minutes.
Every session s3lab makes shares one botocore loader (:func:`botocore_session`), so a process
parses the S3 model (a megabyte of JSON) once, however many clients it makes.

Every client s3lab makes, and the ones a notebook makes with ``lab.client("s3")``, come from
:func:`client` (resources from :func:`resource`): one place that gives them these timeouts and
retries, whoever asks. A leaf module: it imports only :mod:`s3lab.settings`, so ``sandbox`` may
use it too.
"""

from __future__ import annotations

import datetime as _dt
import functools
from typing import TYPE_CHECKING, Any, Literal, overload

from s3lab import settings

if TYPE_CHECKING:
    import boto3
    import botocore.session
    from botocore.client import BaseClient
    from botocore.config import Config
    from botocore.loaders import Loader
    from mypy_boto3_s3 import S3Client, S3ServiceResource
    from mypy_boto3_sts import STSClient

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 6.0
ATTEMPTS = 3
#: Connections a client for bulk work keeps open: two for each of s3lab's parallel workers.
BULK_CONNECTIONS = 32


def patience() -> tuple[float, float, int]:
    """``(connect timeout, read timeout, attempts)``: the defaults, or the settings' values."""
    found = settings.read()
    return (
        found.connect_timeout or CONNECT_TIMEOUT,
        found.read_timeout or READ_TIMEOUT,
        found.attempts or ATTEMPTS,
    )


def client_config(*, attempts: int | None = None, **overrides: Any) -> Config:
    """A botocore Config with s3lab's timeouts and standard retries; ``overrides`` win.

    ``attempts`` caps the tries (1 = no retry), e.g. for a readiness probe or a doctor check.
    """
    from botocore.config import Config

    connect, read, tries = patience()
    values: dict[str, Any] = {
        "connect_timeout": connect,
        "read_timeout": read,
        # total_max_attempts counts every try; botocore's max_attempts counts only the retries
        # (the first request comes on top), which made 3 "attempts" four tries.
        "retries": {"mode": "standard", "total_max_attempts": attempts or tries},
    }
    values.update(overrides)
    return Config(**values)


def stall_seconds() -> float:
    """How long a copy may make no progress before it is given up as stalled.

    The Common Runtime has no read timeout of its own, so the copy engine watches progress
    instead; this is the same worst case as one botocore request.
    """
    connect, read, tries = patience()
    return tries * (connect + read)


@functools.lru_cache(maxsize=1)
def _loader() -> Loader:
    """The one botocore data loader of this process: it keeps every model it has parsed."""
    from botocore.loaders import create_loader

    return create_loader()


def botocore_session(**kwargs: Any) -> botocore.session.Session:
    """A botocore session (``kwargs`` as for ``botocore.session.Session``) on the shared loader.

    A new session would parse the S3 model again (tens of milliseconds each time); this one
    reuses what any earlier session of this process parsed.
    """
    import botocore.session

    session = botocore.session.Session(**kwargs)
    session.register_component("data_loader", _loader())
    return session


def _patient(config: Config | None) -> Config:
    """s3lab's timeouts and retries, with what ``config`` sets merged over them."""
    base = client_config()
    return base.merge(config) if config is not None else base


@overload
def client(
    session: botocore.session.Session, service: Literal["s3"], *, helpers: bool = ..., **kwargs: Any
) -> S3Client: ...
@overload
def client(
    session: botocore.session.Session,
    service: Literal["sts"],
    *,
    helpers: bool = ...,
    **kwargs: Any,
) -> STSClient: ...
@overload
def client(
    session: botocore.session.Session, service: str, *, helpers: bool = ..., **kwargs: Any
) -> BaseClient: ...
def client(
    session: botocore.session.Session,
    service: str,
    *,
    helpers: bool = True,
    config: Config | None = None,
    **kwargs: Any,
) -> Any:
    """The one client factory: a client for ``service`` made from ``session``, patient as above.

    ``config`` is merged over s3lab's timeouts and retries (:func:`client_config`), so a caller
    that wants one try, or no checksums, says only that. ``helpers`` makes a boto3 client (with
    ``upload_file`` and kin); without it the client is botocore's alone, which makes the same
    requests and starts faster, since neither boto3 nor its transfer engine is imported.
    ``kwargs`` are ``create_client``'s (``endpoint_url``, ``region_name``, keys...).
    """
    if not helpers:
        return session.create_client(service, config=_patient(config), **kwargs)
    return boto3_session(session).client(service, config=_patient(config), **kwargs)  # type: ignore[call-overload]


def boto3_session(session: botocore.session.Session) -> boto3.session.Session:
    """``session`` wrapped by boto3 (its helpers, its resources), the shared loader kept lean.

    boto3 adds its data folder to the session's loader each time it wraps a session; the loader
    is shared by the whole process, so the folder is kept once.
    """
    import boto3

    wrapped = boto3.session.Session(botocore_session=session)
    paths = session.get_component("data_loader").search_paths
    paths[:] = list(dict.fromkeys(paths))
    return wrapped


def resource(
    session: botocore.session.Session, service: Literal["s3"] = "s3", **kwargs: Any
) -> S3ServiceResource:
    """A boto3 resource (``s3.Bucket(name).objects``...), as patient as :func:`client`'s clients."""
    config = _patient(kwargs.pop("config", None))
    return boto3_session(session).resource(service, config=config, **kwargs)


# --- a client for bulk work: many small requests from many threads ------------------------------


def lean_config(**overrides: Any) -> Config:
    """A botocore Config for many small requests: connections to spare, no extra checksums.

    ``when_required`` computes a checksum only where S3 demands one (DeleteObjects), which is
    also what S3-compatible stores such as Ceph need. Timeouts and retries are s3lab's one
    setting (:func:`client_config`).
    """
    values: dict[str, Any] = {
        "max_pool_connections": BULK_CONNECTIONS,
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        # s3lab builds its requests itself; validating 1,000-key DeleteObjects in Python is
        # measurable CPU for nothing.
        "parameter_validation": False,
    }
    values.update(overrides)
    return client_config(**values)


def _fast_timestamp(value: Any) -> _dt.datetime:
    """Parse S3's ISO timestamps with the standard library.

    dateutil (botocore's default) costs tens of microseconds each, which adds up to a
    noticeable share of listing 10,000 keys.
    """
    from botocore.utils import parse_timestamp

    if isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return parse_timestamp(value)
        if moment.tzinfo is not None:
            return moment
    return parse_timestamp(value)


def bulk_client(
    session: botocore.session.Session, *, helpers: bool = True, **kwargs: Any
) -> S3Client:
    """An S3 client for bulk work, from :func:`client`: lean on the CPU of a small machine.

    One client for all threads, a connection per thread, checksums only where required
    (:func:`lean_config`, unless ``config`` says otherwise) and a fast timestamp parser.
    """
    factory = session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=_fast_timestamp)
    kwargs.setdefault("config", lean_config())
    return client(session, "s3", helpers=helpers, **kwargs)
