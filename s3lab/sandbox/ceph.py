"""A one-node Ceph with its S3 gateway (RGW), to rehearse Kopah on the software Kopah runs.

Kopah is Ceph's S3 gateway. Debian and Ubuntu ship Ceph as packages (``ceph-mon``, ``ceph-osd``,
``radosgw``, ``ceph-common``); as root, a cluster of one monitor, one OSD that keeps objects in
memory (``memstore``) and one ``radosgw`` starts in about ten seconds, with no systemd and no
container. Everything lives in one private directory (``<home>/sandbox/ceph``): the config, the
keyring, the monitor's database, logs and admin sockets. The data is in the OSD's memory, so a
restart starts empty.

Every daemon is started in the foreground by :func:`s3lab.processes.spawn` and recorded with its
identity in ``daemons.json``; :func:`stop` signals each one only while that identity matches.
Ports are free ones on 127.0.0.1: the monitor's two (messenger v2 and v1), a small range for
the OSD (``ms bind port min/max``) and the gateway's HTTP port.

:mod:`s3lab.sandbox` calls :func:`start` and :func:`stop` for the ``ceph`` kind (this module
imports no other s3lab module but ``processes``, ``statefiles`` and ``errors``):
:func:`start` gives back the gateway's identity and endpoint, which ``sandbox`` records and
checks like its other servers.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import psutil

from s3lab import processes, statefiles
from s3lab.errors import NotInstalledError, SandboxError

logger = logging.getLogger(__name__)

PACKAGES = ("ceph-mon", "ceph-osd", "radosgw", "ceph-common")
PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
INSTEAD = "use --backend server (SeaweedFS) instead"
HOST = "127.0.0.1"
RGW_NAME = "client.rgw.s3lab"
USER = "learner"
# The OSD binds eight ports (public, cluster and two heartbeats, each v2 and v1): room for them.
OSD_PORTS = 10
# Daemons in start order; stopped in the reverse one.
DAEMONS = ("mon", "osd", "rgw")


def cannot_run() -> tuple[str, str] | None:
    """Why the Ceph sandbox cannot run on this machine, and the fix; None when it can."""
    missing = [name for name in PROGRAMS if not shutil.which(name)]
    debian = Path("/etc/debian_version").exists()
    if missing and not debian:
        return (
            "the ceph sandbox needs Debian's or Ubuntu's Ceph packages, and this is neither",
            INSTEAD,
        )
    if missing:
        install = f"apt-get install --no-install-recommends {' '.join(PACKAGES)}"
        return (
            f"Ceph is not installed (no {missing[0]})",
            f"as root: {install} (`bash tasks.sh setup` does it as root), or {INSTEAD}",
        )
    if os.geteuid() != 0:
        return ("the ceph sandbox runs only as root", f"run it as root (sudo), or {INSTEAD}")
    return None


def check() -> None:
    """Raise a one-line error when Ceph cannot run here (see :func:`cannot_run`).

    Raises:
        NotInstalledError: a program Ceph needs is missing.
    """
    why = cannot_run()
    if why:
        raise NotInstalledError(*why)


def _key() -> str:
    """A new cephx secret: version 1, creation time, 16 random bytes (ceph-authtool's format)."""
    header = struct.pack("<HIIH", 1, int(time.time()), 0, 16)
    return base64.b64encode(header + os.urandom(16)).decode()


# Who may do what: the keyring holds every key the cluster needs, imported by the monitor.
_CAPS: dict[str, dict[str, str]] = {
    "mon.": {"mon": "allow *"},
    "client.admin": {"mon": "allow *", "osd": "allow *", "mgr": "allow *", "mds": "allow *"},
    "osd.0": {"mon": "allow profile osd", "osd": "allow *", "mgr": "allow profile osd"},
    RGW_NAME: {"mon": "allow rw", "osd": "allow rwx"},
}


def write_keyring(path: Path) -> None:
    """The cluster's one keyring: the monitor, the admin, the OSD and the gateway."""
    lines = []
    for name, caps in _CAPS.items():
        lines += [f"[{name}]", f"\tkey = {_key()}"]
        lines += [f'\tcaps {kind} = "{cap}"' for kind, cap in caps.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def config_text(
    directory: Path, fsid: str, mon_ports: tuple[int, int], osd_port: int, port: int
) -> str:
    """``ceph.conf`` for a one-node cluster kept entirely inside ``directory``."""
    v2, v1 = mon_ports
    return f"""[global]
fsid = {fsid}
mon host = [v2:{HOST}:{v2},v1:{HOST}:{v1}]
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = {directory}/keyring
run dir = {directory}/run
admin socket = {directory}/run/$name.asok
pid file = {directory}/run/$name.pid
log file = {directory}/log/$name.log
crash dir = {directory}/crash
log to stderr = false
err to stderr = true
public addr = {HOST}
cluster addr = {HOST}
ms bind ipv6 = false
ms bind port min = {osd_port}
ms bind port max = {osd_port + OSD_PORTS - 1}
mon data = {directory}/mon
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
mon max pg per osd = 1000
auth allow insecure global id reclaim = false
osd data = {directory}/osd
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0

[{RGW_NAME}]
rgw frontends = beast endpoint={HOST}:{port}
rgw data = {directory}/rgw
rgw gc obj min wait = 0
rgw gc processor period = 5
"""


FreePort = Callable[[Collection[int]], int]
InUse = Callable[[int], bool]


def _free_block(count: int, avoid: set[int], free_port: FreePort, port_in_use: InUse) -> int:
    """The first port of ``count`` consecutive free ports on 127.0.0.1, none in ``avoid``."""
    for _ in range(200):
        first = free_port(avoid)
        block = range(first, first + count)
        if first + count < 65536 and not any(p in avoid or port_in_use(p) for p in block):
            return first
    raise SandboxError(f"found no {count} free consecutive ports on {HOST}", "stop other servers")


def _run(directory: Path, *argv: str, timeout: float = 60.0) -> str:
    """Run one of Ceph's tools with this cluster's config; its output, or a SandboxError."""
    command = [argv[0], "-c", str(directory / "ceph.conf"), *argv[1:]]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=directory, check=False
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(
            f"`{argv[0]} {argv[1]}` did not finish within {timeout:.0f} s",
            f"read the logs in {directory / 'log'}",
        ) from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SandboxError(
            f"`{argv[0]} {argv[1]}` failed: {last[0]}", f"read the logs in {directory / 'log'}"
        )
    return done.stdout


def _records(directory: Path) -> dict[str, dict[str, object]]:
    return dict(statefiles.read_json(directory / "daemons.json", {}, kind=dict))


def _spawn(directory: Path, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start one daemon in the foreground and record its identity at once."""
    command = [argv[0], "-f", "-c", str(directory / "ceph.conf"), *argv[1:]]
    with (directory / "log" / f"{name}.out").open("ab") as out:
        process = processes.spawn(command, output=out, cwd=directory)
    identity = processes.identify(process.pid) or processes.Identity(process.pid)
    if not identity.cmdline:  # not exec'd yet: the command line is what was asked for
        identity = processes.Identity(process.pid, identity.since_boot, tuple(command))

    def add(records: dict[str, object]) -> dict[str, object]:
        return {**records, name: identity.as_record()}

    # Atomic and locked: a crash mid-write must not lose the records of daemons already running.
    statefiles.update(directory / "daemons.json", add, {}, kind=dict)
    return process


def _log_tail(directory: Path, name: str) -> str:
    for path in (directory / "log" / f"{name}.out", directory / "log" / f"{name}.log"):
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            continue
        if lines:
            return lines[-1].strip()[:200]
    return "no log"


@dataclass
class Gateway:
    """The started gateway: what identifies its process, and where it answers."""

    identity: processes.Identity
    endpoint_url: str
    log: str


def start(
    directory: Path,
    port: int,
    *,
    keys: tuple[str, str],
    free_port: FreePort,
    port_in_use: InUse,
    timeout: float = 90.0,
) -> Gateway:
    """Start monitor, OSD and gateway in ``directory`` (made anew), the gateway on ``port``.

    ``keys`` (access key id, secret) are given to an S3 user made by ``radosgw-admin``;
    ``free_port(avoid)`` and ``port_in_use(port)`` are the sandbox's. On failure everything
    started is stopped again.
    """
    check()
    stop(directory)  # whatever an earlier run left: stopped by identity, then the files go
    shutil.rmtree(directory, ignore_errors=True)
    for sub in ("run", "log", "crash", "mon", "osd", "rgw"):
        (directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + timeout
    try:
        return _start(directory, port, deadline, keys, (free_port, port_in_use))
    except BaseException:
        stop(directory)
        raise


def _start(
    directory: Path,
    port: int,
    deadline: float,
    keys: tuple[str, str],
    ports: tuple[FreePort, InUse],
) -> Gateway:
    taken = {port}
    v2 = _free_block(2, taken, *ports)
    taken |= {v2, v2 + 1}
    osd_port = _free_block(OSD_PORTS, taken, *ports)
    fsid, osd_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    conf = config_text(directory, fsid, (v2, v2 + 1), osd_port, port)
    (directory / "ceph.conf").write_text(conf)
    write_keyring(directory / "keyring")
    monmap = str(directory / "monmap")
    addr = f"v2:{HOST}:{v2},v1:{HOST}:{v2 + 1}"
    subprocess.run(
        ["monmaptool", "--create", "--fsid", fsid, "--addv", "a", f"[{addr}]", monmap],
        capture_output=True,
        check=True,
    )
    _run(directory, "ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap)
    mon = _spawn(directory, "mon", ["ceph-mon", "-i", "a"])
    # The UUID given to `osd new` must be the one given to --mkfs, or the OSD is never "up".
    _run(directory, "ceph", "--connect-timeout", "30", "osd", "new", osd_uuid, "0")
    _run(directory, "ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
    osd = _spawn(directory, "osd", ["ceph-osd", "-i", "0"])
    rgw = _spawn(directory, "rgw", ["radosgw", "-n", RGW_NAME])
    endpoint = f"http://{HOST}:{port}"
    # The gateway answers HTTP once it has made its pools, which needs the OSD up.
    while not _http_ok(endpoint):
        for name, process in (("mon", mon), ("osd", osd), ("rgw", rgw)):
            if process.poll() is not None:
                raise SandboxError(
                    f"ceph's {name} exited at start (code {process.returncode}): "
                    f"{_log_tail(directory, name)}",
                    f"read the logs in {directory / 'log'}, or {INSTEAD}",
                )
        if time.monotonic() > deadline:
            raise SandboxError(
                "the ceph gateway did not answer in time", f"read {directory / 'log'}; {INSTEAD}"
            )
        time.sleep(0.25)
    _run(
        directory,
        "radosgw-admin",
        "-n",
        "client.admin",
        "user",
        "create",
        f"--uid={USER}",
        f"--display-name={USER}",
        f"--access-key={keys[0]}",
        f"--secret={keys[1]}",
    )
    identity = processes.Identity.from_record(_records(directory)["rgw"])
    return Gateway(identity, endpoint, str(directory / "log" / f"{RGW_NAME}.log"))


def _http_ok(endpoint: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(endpoint + "/", timeout=1.0) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def stop(directory: Path, grace: float = 5.0) -> list[str]:
    """Stop every recorded daemon, gateway first, monitor last; the ones signalled.

    In that order each exits in a fraction of a second; signalled all at once, the OSD waits
    for a monitor that is gone (measured: 5 s, until SIGKILL).
    """
    records = _records(directory)
    signalled = []
    for name in DAEMONS[::-1]:
        if name not in records:
            continue
        result = processes.stop(
            processes.Identity.from_record(records[name]), grace=grace, group=True
        )
        if result.signalled:
            signalled.append(name)
        if not result.gone:
            logger.warning("ceph's %s did not exit", name)
    (directory / "daemons.json").unlink(missing_ok=True)
    return signalled


def leftovers(directory: Path) -> list[int]:
    """Pids of live processes started with this cluster's config: none after :func:`stop`."""
    conf = str(directory / "ceph.conf")
    found = []
    for pid in psutil.pids():
        identity = processes.identify(pid)
        if identity and conf in identity.cmdline:
            found.append(identity.pid)
    return found
