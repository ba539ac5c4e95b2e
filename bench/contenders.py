"""The aws commands s3lab is measured against: v2 with each of its transfer clients, and v1.

What users run is the AWS CLI v2 (set-up links it into the environment's ``bin``), and v2 has
two ways to move files: its classic Python transfer manager and the AWS Common Runtime's C
client (``preferred_transfer_client = crt`` in the profile's ``s3`` section). PyPI's v1 is what
``pip install awscli`` still gives. Each contender is a command prefix and the environment it
runs in; one that cannot run here is kept as the one-line reason, which the table prints.

v2's CRT client decides between TLS and plain HTTP from the ``--endpoint-url`` option alone: an
``http://`` endpoint given only as ``AWS_ENDPOINT_URL`` or a profile's ``endpoint_url`` gets
TLS spoken to it, and the server closes the connection (``AWS_IO_SOCKET_CLOSED`` on every
upload; seen with 2.36.7, awscli/customizations/s3/factory.py). The CRT contender therefore
names the sandbox's endpoint on its command line, as a reader of the speed page must too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: v2's transfer clients, each with the profile line that selects it.
V2_CLIENTS = {"aws v2 (classic)": "classic", "aws v2 (CRT)": "crt"}


@dataclass
class Contender:
    """One aws command: ``argv`` to run it, ``env`` to run it in, or ``missing`` (why not)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    missing: str = ""


def _version(argv: list[str], env: dict[str, str]) -> str:
    """``aws-cli/2.36.7 ...`` (what ``--version`` prints), or ``""`` if it does not run."""
    try:
        done = subprocess.run(
            [*argv, "--version"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return ""
    return (done.stdout or done.stderr).strip() if done.returncode == 0 else ""


def profile_for(client: str, folder: Path, extra: str = "") -> Path:
    """An AWS config file whose default profile picks v2's ``client`` (and any ``extra``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"config-{client}"
    path.write_text(f"[default]\ns3 =\n    preferred_transfer_client = {client}\n{extra}")
    return path


def find(env: dict[str, str], work: Path, extra: str = "") -> list[Contender]:
    """Every contender, in the order the table shows them; ``env`` is the sandbox's.

    ``extra``: profile lines every contender gets (on Ceph, the Kopah profile's checksum ones).
    """
    found = []
    aws = shutil.which("aws", path=env.get("PATH", os.defpath))
    v2 = _version([aws], env) if aws else ""
    for name, client in V2_CLIENTS.items():
        if not v2.startswith("aws-cli/2."):
            why = f"no AWS CLI v2 here ({v2.split(' ')[0] if v2 else 'no aws command'})"
            found.append(Contender(name, [], env, missing=f"{why}: bash tasks.sh setup builds it"))
            continue
        config = profile_for(client, work / "aws", extra)
        argv = [str(aws)]
        endpoint = env.get("AWS_ENDPOINT_URL", "")
        if client == "crt" and endpoint.startswith("http://"):
            argv += ["--endpoint-url", endpoint]  # see the module's docstring
        found.append(Contender(name, argv, {**env, "AWS_CONFIG_FILE": str(config)}))
    v1_argv = [sys.executable, "-m", "awscli"]
    v1 = _version(v1_argv, env)
    if v1.startswith("aws-cli/1."):
        v1_env = env
        if extra:
            v1_config = work / "aws" / "config-v1"
            v1_config.write_text(f"[default]\n{extra}")
            v1_env = {**env, "AWS_CONFIG_FILE": str(v1_config)}
        found.append(Contender("aws v1", v1_argv, v1_env))
    else:
        found.append(Contender("aws v1", [], env, missing="PyPI's awscli (v1) is not installed"))
    return found


def versions(contenders: list[Contender]) -> dict[str, str]:
    """Each runnable contender's version line's first word, e.g. ``aws-cli/2.36.7``."""
    return {c.name: _version(c.argv, c.env).split(" ")[0] for c in contenders if not c.missing}
