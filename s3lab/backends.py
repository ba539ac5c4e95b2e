"""The one switch that says where S3 requests go: a local sandbox, real AWS, or Kopah.

Every ``S3LAB_*`` variable is read here and nowhere else:

- ``S3LAB_BACKEND``: ``moto`` (default), ``server``, ``aws`` or ``kopah``.
- ``S3LAB_PROFILE``: the AWS profile for ``aws``/``kopah`` (else ``AWS_PROFILE``; Kopah's
  default is the profile ``kopah``).
- ``S3LAB_HOME``: where s3lab keeps sandbox state (default ``~/.s3lab``).

Notebooks call :func:`use` in their first code cell. It puts the backend's settings into
``os.environ``, so boto3 clients *and* ``!aws`` shell commands in the same notebook go to the
same place, and no notebook ever contains an endpoint.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lab.errors import UsageError

BACKENDS = ("moto", "server", "aws", "kopah")
DEFAULT_BACKEND = "moto"

# Variables a sandbox sets; switching to a cloud backend removes them again, or the endpoint
# and the fake keys of the sandbox would follow the learner to AWS.
_SANDBOX_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
)


def s3lab_home() -> Path:
    """The folder for s3lab's own state (``$S3LAB_HOME``, default ``~/.s3lab``)."""
    return Path(os.environ.get("S3LAB_HOME") or Path.home() / ".s3lab")


def check_name(name: str) -> str:
    """Return a valid backend name, or raise with a "did you mean" hint."""
    cleaned = name.strip().lower()
    if cleaned in BACKENDS:
        return cleaned
    close = difflib.get_close_matches(cleaned, BACKENDS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"unknown backend {name!r}",
        f"{hint}use one of {', '.join(BACKENDS)} (set S3LAB_BACKEND or pass --backend)",
    )


def backend_name(name: str | None = None, default: str = DEFAULT_BACKEND) -> str:
    """The backend to use: ``name`` if given, else ``$S3LAB_BACKEND``, else ``default``.

    A notebook passes its own ``default`` when it needs more than a mock: the mount chapters
    default to the real S3 server, yet the tests can still run them on moto.
    """
    return check_name(name or os.environ.get("S3LAB_BACKEND") or default)


@dataclass
class Backend:
    """Where requests go, and the environment that sends them there."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    profile: str | None = None

    @property
    def is_sandbox(self) -> bool:
        """True for the local servers, where nothing costs money and keys are fake."""
        return self.name in ("moto", "server")

    def session(self) -> Any:
        """A boto3 session with this backend's credentials and region."""
        import boto3

        if self.is_sandbox:
            from s3lab import sandbox

            return sandbox.session()
        return boto3.session.Session(profile_name=self.profile)

    def client(self, service: str = "s3", **kwargs: Any) -> Any:
        """A boto3 client for ``service`` on this backend (the sandbox endpoint included)."""
        if self.endpoint_url and "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session().client(service, **kwargs)

    def resource(self, service: str = "s3", **kwargs: Any) -> Any:
        """A boto3 resource for ``service`` on this backend."""
        if self.endpoint_url and "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session().resource(service, **kwargs)

    def __repr__(self) -> str:  # never show keys, even the fake ones, in a notebook
        where = self.endpoint_url or f"profile {self.profile or 'default'}"
        return f"Backend({self.name!r}, {where})"


def resolve(
    name: str | None = None,
    *,
    profile: str | None = None,
    home: Path | str | None = None,
    default: str = DEFAULT_BACKEND,
) -> Backend:
    """Work out the backend without changing anything (see :func:`use`)."""
    chosen = backend_name(name, default)
    if chosen in ("moto", "server"):
        from s3lab import sandbox

        running = sandbox.pick(chosen, home=home)
        return Backend(chosen, running.env(), running.endpoint_url)
    profile = profile or os.environ.get("S3LAB_PROFILE") or os.environ.get("AWS_PROFILE")
    if chosen == "kopah":
        profile = profile or "kopah"
    env = {"S3LAB_BACKEND": chosen}
    if profile:
        env["AWS_PROFILE"] = profile
    return Backend(chosen, env, None, profile)


def use(
    name: str | None = None,
    *,
    profile: str | None = None,
    home: Path | str | None = None,
    default: str = DEFAULT_BACKEND,
) -> Backend:
    """Point this process (boto3 and any ``!aws`` it runs) at a backend, and return it."""
    backend = resolve(name, profile=profile, home=home, default=default)
    if not backend.is_sandbox:
        for variable in _SANDBOX_VARIABLES:
            os.environ.pop(variable, None)
    else:
        # A profile named in the environment (maybe one that does not exist here) would
        # otherwise be read by boto3 and the aws command alongside the sandbox's keys.
        for variable in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
            os.environ.pop(variable, None)
    os.environ.update(backend.env)
    return backend
