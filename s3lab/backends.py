"""The one switch that says where S3 requests go: a local sandbox, real AWS, or Kopah.

A *backend* is only ever that: where requests go (``moto``, ``server``, ``ceph``, ``aws``,
``kopah`` or ``class``). ``ceph`` is the opt-in sandbox that rehearses Kopah on Ceph itself (root
only). ``class`` is a learner's seat in a class (``s3lab classroom``): their own key, through the
profile the instructor handed out (default ``s3lab-class``), which names the class's server.
The switch is ``S3LAB_BACKEND`` (read, like every ``S3LAB_*`` variable, by
:func:`s3lab.settings.read`), or a name passed in. For ``aws``/``kopah`` the profile is
``S3LAB_PROFILE``, else ``AWS_PROFILE`` (Kopah's default is the profile ``kopah``, a class's
``s3lab-class``).

The two sandboxes are started and stopped by :mod:`s3lab.sandbox`; this module asks it for the
running one (:func:`running_sandbox`), and ``sandbox`` knows nothing of this module.

Notebooks call :func:`use` in their first code cell. It puts the backend's settings into
``os.environ``, so boto3 clients *and* ``!aws`` shell commands in the same notebook go to the
same place, and no notebook ever contains an endpoint.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lab import clients, sandbox, settings
from s3lab.errors import UsageError

BACKENDS = ("moto", "server", "ceph", "aws", "kopah", "class")
DEFAULT_BACKEND = "moto"
#: The profile a class hands each learner, and its key that names the learner (botocore keeps
#: keys it does not know): the one place s3lab learns who the learner is (:func:`learner`).
CLASS_PROFILE = "s3lab-class"
LEARNER_KEY = "s3lab_learner"
_DEFAULT_PROFILES = {"kopah": "kopah", "class": CLASS_PROFILE}


def check_backend(name: str) -> str:
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
    return check_backend(name or settings.read().backend or default)


def running_sandbox(name: str | None = None, *, home: Path | str | None = None) -> sandbox.Sandbox:
    """The running sandbox to use: the one named, else ``$S3LAB_BACKEND``'s, else the only one up.

    ``$S3LAB_BACKEND`` counts only when it names a sandbox (``moto``, ``server`` or ``ceph``).
    """
    if name is None:
        wanted = settings.read().backend
        if wanted and check_backend(wanted) in sandbox.KINDS:
            name = check_backend(wanted)
    return sandbox.pick(name, home=home)


def learner(name: str | None = None, *, profile: str | None = None) -> str | None:
    """The class learner the profile in use names (its ``s3lab_learner``), or None.

    Only on a backend that goes through a profile: on a sandbox, everyone is the sandbox.
    """
    from s3lab.configure import awsfiles

    chosen = backend_name(name)
    if chosen in sandbox.KINDS:
        return None
    wanted = profile or settings.read().profile or os.environ.get("AWS_PROFILE")
    wanted = wanted or _DEFAULT_PROFILES.get(chosen) or "default"
    found = awsfiles.read_profiles(awsfiles.config_path(), config=True).get(wanted) or {}
    value = str(found.get(LEARNER_KEY) or "").strip()
    return value or None


def from_sandbox(env: Mapping[str, str]) -> bool:
    """True when ``env``'s endpoint and keys are a sandbox's: it names one, or has its fake key.

    ``s3lab.use`` and ``eval "$(s3lab sandbox env)"`` always set ``S3LAB_BACKEND`` with them.
    """
    named = (env.get("S3LAB_BACKEND") or "").strip().lower()
    return named in sandbox.KINDS or env.get("AWS_ACCESS_KEY_ID") == sandbox.FAKE_ACCESS_KEY_ID


def clear_for(backend: Backend, env: MutableMapping[str, str]) -> None:
    """Remove from ``env`` what must not follow requests to ``backend``.

    Going to a cloud, the sandbox's endpoint and fake keys (:data:`settings.CLOUD_CLEARS`), when
    they are the sandbox's (:func:`from_sandbox`): an endpoint a person set themselves (a VPC
    endpoint; the role-only VM rehearsal's stand-in, which has no files to name it in) stays.
    Going to a sandbox, a token, an S3-only endpoint or a profile that would mix with its keys
    (:data:`settings.SANDBOX_CLEARS`).
    """
    if not backend.is_sandbox and not from_sandbox(env):
        return
    for variable in settings.SANDBOX_CLEARS if backend.is_sandbox else settings.CLOUD_CLEARS:
        env.pop(variable, None)


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
        return self.name in sandbox.KINDS

    def session(self) -> Any:
        """A boto3 session with this backend's credentials and region."""
        import boto3

        return boto3.session.Session(botocore_session=self.botocore_session())

    def botocore_session(self) -> Any:
        """The botocore session under :meth:`session` (no boto3 imported: a quicker start)."""
        if self.is_sandbox:
            return sandbox.botocore_session()
        return clients.botocore_session(profile=self.profile)

    def client(self, service: str = "s3", **kwargs: Any) -> Any:
        """A boto3 client for ``service`` on this backend (the sandbox endpoint included).

        Its timeouts and retries are s3lab's (:func:`clients.client_config`); a ``config``
        passed in is merged over them.
        """
        return self.session().client(service, **self._kwargs(kwargs))

    def resource(self, service: str = "s3", **kwargs: Any) -> Any:
        """A boto3 resource for ``service`` on this backend."""
        return self.session().resource(service, **self._kwargs(kwargs))

    def _kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.endpoint_url and "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = self.endpoint_url
        base = clients.client_config()
        kwargs["config"] = base.merge(kwargs["config"]) if kwargs.get("config") else base
        return kwargs

    def __repr__(self) -> str:
        """Where requests go, by name: never keys (even the fake ones), nor a local port.

        A notebook shows this; a page built from it must not show the build machine's port.
        """
        where = "local sandbox" if self.is_sandbox else f"profile {self.profile or 'default'}"
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
    if chosen in sandbox.KINDS:
        running = running_sandbox(chosen, home=home)
        return Backend(chosen, running.env(), running.endpoint_url)
    profile = profile or settings.read().profile or os.environ.get("AWS_PROFILE")
    profile = profile or _DEFAULT_PROFILES.get(chosen)
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
    clear_for(backend, os.environ)
    os.environ.update(backend.env)
    return backend


@dataclass
class Rehearsal:
    """Where the Kopah chapter runs: the ceph sandbox, else SeaweedFS, and why."""

    backend: str
    reason: str = ""  # why not ceph; empty when it is ceph
    started: bool = False  # started by :func:`rehearse`: :meth:`done` stops it again

    def note(self) -> str:
        """One line for the reader."""
        if self.backend == "ceph":
            return "rehearsing on Ceph's own S3 gateway (the ceph sandbox), as Kopah runs it"
        return f"Ceph cannot run here ({self.reason}): using SeaweedFS (--backend server) instead"

    def done(self) -> None:
        """Stop the ceph sandbox if :func:`rehearse` started it."""
        if self.started:
            sandbox.stop("ceph")
            self.started = False


def rehearse(backend: str | None = None) -> Rehearsal:
    """The backend for rehearsing Kopah: ``ceph``, started here if needed, else ``server``.

    ``backend`` (or ``$S3LAB_BACKEND``) names another one to use as it is. The book build starts
    only the default sandboxes; this starts Ceph for the one chapter that needs it.
    """
    from s3lab.sandbox import ceph

    wanted = backend or settings.read().backend or "ceph"
    if wanted != "ceph":
        return Rehearsal(wanted, "another backend was asked for")
    why = ceph.cannot_run()
    if why:
        sandbox.start("server")
        return Rehearsal("server", why[0])
    started = sandbox.running("ceph", thorough=False) is None
    sandbox.start("ceph")
    return Rehearsal("ceph", started=started)
