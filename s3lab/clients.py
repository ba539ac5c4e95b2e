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
A leaf module: it imports only :mod:`s3lab.settings`, so ``sandbox`` may use it too.
"""

from __future__ import annotations

import functools
from typing import Any

from s3lab import settings

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 6.0
ATTEMPTS = 3


def patience() -> tuple[float, float, int]:
    """``(connect timeout, read timeout, attempts)``: the defaults, or the settings' values."""
    found = settings.read()
    return (
        found.connect_timeout or CONNECT_TIMEOUT,
        found.read_timeout or READ_TIMEOUT,
        found.attempts or ATTEMPTS,
    )


def client_config(*, attempts: int | None = None, **overrides: Any) -> Any:
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
def _loader() -> Any:
    """The one botocore data loader of this process: it keeps every model it has parsed."""
    from botocore.loaders import create_loader

    return create_loader()


def botocore_session(**kwargs: Any) -> Any:
    """A botocore session (``kwargs`` as for ``botocore.session.Session``) on the shared loader.

    A new session would parse the S3 model again (tens of milliseconds each time); this one
    reuses what any earlier session of this process parsed.
    """
    import botocore.session

    session = botocore.session.Session(**kwargs)
    session.register_component("data_loader", _loader())
    return session
