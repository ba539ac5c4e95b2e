"""The machine an install runs on: OS, architecture, root, package manager, and its tools.

An install plan is decided by these facts, so they are gathered in one place, each overridable
(``--arch``, a test's ``System(...)``), and nothing here changes the machine. The version probes
read only the leading version of a program's answer, because builds append all sorts after it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s3lab.errors import UsageError

_AWS_VERSION = re.compile(r"^aws-cli/(\d+)\.(\d+)\.(\d+)")
_MOUNT_S3_VERSION = re.compile(r"^mount-s3 (\d+\.\d+\.\d+)")
_RCLONE_VERSION = re.compile(r"^rclone v(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class System:
    """What decides the plan: OS, architecture, root or not, home, package manager."""

    os: str  # "linux", "darwin", ...
    arch: str  # "x86_64" or "aarch64"
    root: bool
    home: Path
    package_manager: str | None  # "apt", "dnf", "yum" or None
    fuse_device: Path = Path("/dev/fuse")


def normalize_arch(machine: str) -> str:
    """The AWS CLI's name for an architecture; anything else is a clear error.

    Raises:
        UsageError: neither the AWS CLI v2 nor Mountpoint is built for it.
    """
    names = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
    arch = names.get(machine.lower())
    if arch is None:
        raise UsageError(
            f"unsupported architecture {machine!r}: the AWS CLI v2 and Mountpoint are built "
            "for x86_64 and aarch64 only",
            "use `s3lab install awscli --method pip` (the Python AWS CLI runs anywhere)",
        )
    return arch


def detect(
    arch: str | None = None,
    root: bool | None = None,
    home: Path | None = None,
    fuse_device: Path | None = None,
) -> System:
    """Describe this machine; ``arch`` and the others override what is detected."""
    manager = next(
        (
            name
            for name, cmd in (("apt", "apt-get"), ("dnf", "dnf"), ("yum", "yum"))
            if shutil.which(cmd)
        ),
        None,
    )
    return System(
        os=platform.system().lower(),
        arch=normalize_arch(arch or platform.machine()),
        root=(os.geteuid() == 0) if root is None else root,
        home=home or Path.home(),
        package_manager=manager,
        fuse_device=fuse_device or Path("/dev/fuse"),
    )


# --- what is installed --------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A program found on this machine, with the version it reports."""

    path: str
    version: str
    major: int

    def describe(self, home: Path | None = None) -> str:
        """``aws-cli 1.46.3 (v1) at /usr/bin/aws``."""
        return f"version {self.version} (v{self.major}) at {show_path(self.path, home)}"


def parse_aws_version(text: str) -> tuple[str, int] | None:
    """``('2.15.0', 2)`` from ``aws --version``; only the leading ``aws-cli/X.Y.Z`` is read.

    Older builds append ``botocore/...`` or ``prompt/off``; v1 once printed to stderr. The caller
    passes stdout and stderr together, and anything after the version is ignored.
    """
    for line in text.strip().splitlines():
        match = _AWS_VERSION.match(line.strip())
        if match:
            return ".".join(match.groups()), int(match.group(1))
    return None


def probe_aws(path: str | Path | None = None) -> Found | None:
    """The ``aws`` at ``path`` (default: first on PATH) and its version, or None."""
    exe = str(path) if path else shutil.which("aws")
    if not exe or not Path(exe).exists():
        return None
    try:
        done = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    parsed = parse_aws_version(done.stdout + "\n" + done.stderr)
    return Found(exe, parsed[0], parsed[1]) if parsed else None


def _probe_version(command: Sequence[str], pattern: re.Pattern[str]) -> Found | None:
    exe = shutil.which(command[0]) if "/" not in command[0] else command[0]
    if not exe:
        return None
    try:
        done = subprocess.run(
            [exe, *command[1:]], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    match = pattern.match(done.stdout.strip())
    if not match:
        return None
    return Found(exe, match.group(1), int(match.group(1).split(".")[0]))


def probe_mount_s3() -> Found | None:
    """``mount-s3`` on PATH and the version it prints (``mount-s3 1.19.0``), or None."""
    return _probe_version(["mount-s3", "--version"], _MOUNT_S3_VERSION)


def probe_rclone(path: str | Path = "rclone") -> Found | None:
    """``rclone`` (on PATH, or at ``path``) and the version it prints (``rclone v1.68.0``)."""
    return _probe_version([str(path), "version"], _RCLONE_VERSION)


def package_version(manager: str | None, package: str) -> str | None:
    """The installed version of a system package (dpkg or rpm), or None."""
    if manager == "apt":
        command = ["dpkg-query", "-W", "-f=${Status}|${Version}", package]
    elif manager in ("dnf", "yum"):
        command = ["rpm", "-q", "--qf", "install ok installed|%{VERSION}", package]
    else:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    status, _, version = done.stdout.partition("|")
    return version.strip() if done.returncode == 0 and status.endswith("installed") else None


def pip_version(distribution: str) -> str | None:
    """The version of a Python distribution in the environment s3lab runs in, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def show_path(path: str | Path, home: Path | None = None) -> str:
    """A path as a person would type it: ``~/.local/bin`` rather than ``/home/ana/.local/bin``."""
    text = str(path)
    home_text = str(home or Path.home())
    if home_text not in ("/", "") and (text == home_text or text.startswith(home_text + "/")):
        return "~" + text[len(home_text) :]
    return text


def on_path(directory: Path, path_env: str | None = None) -> bool:
    """Whether a folder is one of the PATH entries (so its programs run by name)."""
    entries = (os.environ.get("PATH", "") if path_env is None else path_env).split(os.pathsep)
    target = os.path.realpath(directory)
    return any(entry and os.path.realpath(entry) == target for entry in entries)
