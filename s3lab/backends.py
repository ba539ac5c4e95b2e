"""The one switch that says where S3 requests go: a local sandbox, real AWS, or Kopah.

A *backend* is only ever that: where requests go (``moto``, ``server``, ``ceph``, ``aws``,
``kopah`` or ``class``). ``ceph`` is the opt-in sandbox that rehearses Kopah on Ceph itself (root
only). ``class`` is a learner's seat in a class (``s3lab classroom``): their own key, through the
profile the instructor handed out (default ``s3lab-class``), which names the class's server.

Which one is decided in one place, :func:`resolve`, by one rule: a name passed in, else
``S3LAB_BACKEND`` (read, like every ``S3LAB_*`` variable, by :func:`s3lab.settings.read`), else a
default. For ``aws``/``kopah``/``class`` the profile is the one passed in, else
``S3LAB_PROFILE``, else ``AWS_PROFILE`` (Kopah's default is the profile ``kopah``, a class's
``s3lab-class``). The :class:`Backend` it returns is then passed down: nothing else in the
package reads these variables (a test checks that).

The two sandboxes are started and stopped by :mod:`s3lab.sandbox`; this module asks it for the
running one, and ``sandbox`` knows nothing of this module.

Notebooks call :func:`use` in their first code cell. It puts the backend's settings into
``os.environ``, so ``!aws`` shell commands in the same notebook go to the same place, and it
remembers the backend for the process (:func:`current`), so ``s3lab.check(...)`` and friends use
it without reading the environment back. No notebook ever contains an endpoint.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from s3lab import clients, sandbox, settings
from s3lab.errors import UsageError

if TYPE_CHECKING:
    import boto3
    import botocore.session
    from mypy_boto3_s3 import S3Client, S3ServiceResource
    from mypy_boto3_sts import STSClient

BACKENDS = ("moto", "server", "ceph", "aws", "kopah", "class")
DEFAULT_BACKEND = "moto"
#: The profile a class hands each learner, and its key that names the learner (botocore keeps
#: keys it does not know): the one place s3lab learns who the learner is (:func:`learner`).
CLASS_PROFILE = "s3lab-class"
LEARNER_KEY = "s3lab_learner"
_DEFAULT_PROFILES = {"kopah": "kopah", "class": CLASS_PROFILE}


def check_backend(name: str) -> str:
    """Return a valid backend name, or raise with a "did you mean" hint.

    Raises:
        UsageError: ``name`` is not one of :data:`BACKENDS`.
    """
    cleaned = name.strip().lower()
    if cleaned in BACKENDS:
        return cleaned
    close = difflib.get_close_matches(cleaned, BACKENDS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        f"unknown backend {name!r}",
        f"{hint}use one of {', '.join(BACKENDS)} (set S3LAB_BACKEND or pass --backend)",
    )


def _chosen(name: str | None, default: str | None, *, sandboxes_only: bool = False) -> str | None:
    """The precedence of :func:`resolve`: ``name``, else ``$S3LAB_BACKEND``, else ``default``.

    Each name is validated (:func:`check_backend`). With ``sandboxes_only``, an environment
    that names a backend other than a sandbox counts as naming none.

    Raises:
        UsageError: the name passed, or the one in the environment, is not a backend.
    """
    wanted = name or settings.read().backend
    chosen = check_backend(wanted) if wanted else None
    if sandboxes_only and name is None and chosen not in sandbox.KINDS:
        chosen = None
    return chosen or (check_backend(default) if default else None)


def _profile(chosen: str, profile: str | None) -> str | None:
    """The profile of a backend that goes through one (part of :func:`resolve`'s rule).

    The one passed, else ``$S3LAB_PROFILE``, else ``$AWS_PROFILE``, else the backend's own
    default (``kopah``, ``s3lab-class``).
    """
    found = profile or settings.read().profile or os.environ.get("AWS_PROFILE")
    return found or _DEFAULT_PROFILES.get(chosen)


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
    """Where requests go, and the environment that sends them there.

    ``region`` is the sandbox's (None on a cloud: the profile's); ``credentials`` says in words
    where the keys come from, for a person (never the keys).
    """

    name: str
    env: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None
    credentials: str = ""

    def __post_init__(self) -> None:
        if self.is_sandbox:
            self.region = self.region or sandbox.REGION
            self.credentials = self.credentials or "the sandbox's documented fake keys"
        else:
            self.credentials = self.credentials or (
                f"profile {self.profile}" if self.profile else "the AWS credential chain"
            )

    @property
    def is_sandbox(self) -> bool:
        """True for the local servers, where nothing costs money and keys are fake."""
        return self.name in sandbox.KINDS

    def session(self) -> boto3.session.Session:
        """A boto3 session with this backend's credentials and region."""
        return clients.boto3_session(self.botocore_session())

    def botocore_session(self) -> botocore.session.Session:
        """The botocore session under :meth:`session` (no boto3 imported: a quicker start)."""
        if self.is_sandbox:
            return sandbox.botocore_session()
        return clients.botocore_session(profile=self.profile)

    @overload
    def client(self, service: Literal["s3"] = ..., **kwargs: Any) -> S3Client: ...
    @overload
    def client(self, service: Literal["sts"], **kwargs: Any) -> STSClient: ...
    def client(self, service: str = "s3", **kwargs: Any) -> Any:
        """A boto3 client for ``service`` on this backend (the sandbox endpoint included).

        Made by the one factory (:func:`clients.client`): its timeouts and retries are
        s3lab's; a ``config`` passed in is merged over them. ``helpers=False`` gives botocore's
        client alone (the same requests, a quicker start).
        """
        if self.endpoint_url and "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = self.endpoint_url
        return clients.client(self.botocore_session(), service, **kwargs)

    def resource(self, service: Literal["s3"] = "s3", **kwargs: Any) -> S3ServiceResource:
        """A boto3 resource for ``service`` on this backend, from the same factory."""
        if self.endpoint_url and "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = self.endpoint_url
        return clients.resource(self.botocore_session(), service, **kwargs)

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
    """Where requests go, decided once: ``name``, else ``$S3LAB_BACKEND``, else ``default``.

    A notebook passes its own ``default`` when it needs more than a mock: the mount chapters
    default to the real S3 server, yet the tests can still run them on moto. Nothing changes
    here (see :func:`use`); a sandbox must be running, and its record says where.

    Raises:
        UsageError: the name is not a backend.
        SandboxError: the sandbox named is not running.
    """
    chosen = _chosen(name, default) or default
    if chosen in sandbox.KINDS:
        running = sandbox.pick(chosen, home=home)
        return Backend(chosen, running.env(), running.endpoint_url)
    found = _profile(chosen, profile)
    env = {"S3LAB_BACKEND": chosen}
    if found:
        env["AWS_PROFILE"] = found
    return Backend(chosen, env, None, found)


def running_sandbox(name: str | None = None, *, home: Path | str | None = None) -> sandbox.Sandbox:
    """The running sandbox to use: the one named, else ``$S3LAB_BACKEND``'s, else the only one up.

    The same rule as :func:`resolve`; the environment counts only when it names a sandbox.

    Raises:
        UsageError: the name is not a sandbox, or two sandboxes run and none is named.
        SandboxError: the sandbox named is not running, or none is.
    """
    return sandbox.pick(_chosen(name, None, sandboxes_only=True), home=home)


#: The backend :func:`use` chose in this process, for :func:`current`.
_USED: list[Backend] = []


def export(backend: Backend, env: MutableMapping[str, str] | None = None) -> None:
    """Put ``backend``'s variables into ``env`` (default: this process's), for ``aws`` to read.

    What would follow requests elsewhere is removed first (:func:`clear_for`).
    """
    target = os.environ if env is None else env
    clear_for(backend, target)
    target.update(backend.env)


def use(
    name: str | Backend | None = None,
    *,
    profile: str | None = None,
    home: Path | str | None = None,
    default: str = DEFAULT_BACKEND,
) -> Backend:
    """Point this process (boto3 and any ``!aws`` it runs) at a backend, and return it.

    ``name`` may be a :class:`Backend` already resolved. It is remembered: :func:`current`
    returns it, so the checks and mounts of a notebook go where its first cell said.

    Raises:
        UsageError: the name is not a backend.
        SandboxError: the sandbox named is not running.
    """
    if isinstance(name, Backend):
        backend = name
    else:
        backend = resolve(name, profile=profile, home=home, default=default)
    export(backend)
    _USED[:] = [backend]
    return backend


def current() -> Backend:
    """The backend :func:`use` chose in this process; else :func:`resolve`'s (not remembered).

    Raises:
        UsageError: nothing was used and the environment names no backend s3lab knows.
        SandboxError: nothing was used and the sandbox the environment names is not running.
    """
    return _USED[0] if _USED else resolve()


def learner(backend: Backend | None = None) -> str | None:
    """The class learner the profile in use names (its ``s3lab_learner``), or None.

    Only on a backend that goes through a profile: on a sandbox, everyone is the sandbox.
    ``backend`` defaults to the one :func:`use` chose, else the environment's by
    :func:`resolve`'s rule (without asking a sandbox anything: naming a bucket needs no server).

    Raises:
        UsageError: the environment names no backend s3lab knows.
    """
    from s3lab.configure import awsfiles

    backend = backend or (_USED[0] if _USED else None)
    if backend is not None:
        chosen, profile = backend.name, backend.profile
    else:
        chosen = _chosen(None, DEFAULT_BACKEND) or DEFAULT_BACKEND
        profile = None if chosen in sandbox.KINDS else _profile(chosen, None)
    if chosen in sandbox.KINDS:
        return None
    found = awsfiles.read_profiles(awsfiles.config_path(), config=True).get(profile or "default")
    value = str((found or {}).get(LEARNER_KEY) or "").strip()
    return value or None


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

    ``backend`` (or ``$S3LAB_BACKEND``: :func:`resolve`'s rule) names another one to use as it
    is. The book build starts only the default sandboxes; this starts Ceph for the one chapter
    that needs it.

    Raises:
        UsageError: the name passed, or the environment's, is not a backend.
        SandboxError: the sandbox needed could not be started.
    """
    from s3lab.sandbox import ceph

    wanted = _chosen(backend, "ceph") or "ceph"
    if wanted != "ceph":
        return Rehearsal(wanted, "another backend was asked for")
    why = ceph.cannot_run()
    if why:
        sandbox.start("server")
        return Rehearsal("server", why[0])
    started = sandbox.running("ceph", thorough=False) is None
    sandbox.start("ceph")
    return Rehearsal("ceph", started=started)
