"""A bucket as a folder: mount it with Mountpoint (``mount-s3``), ``rclone mount`` or ``s3fs``.

A mounted bucket looks like a folder but is not one: every program in it talks to S3 through a
FUSE daemon, and each daemon fakes a different part of POSIX. This module

- picks a mount program, the *tool* (``auto``: Mountpoint when installed, else rclone, whose
  write rules are closest to Mountpoint's, else s3fs); :mod:`s3lab.mount.tools` translates
  Mountpoint's flags into the tool's options,
- passes credentials and the endpoint from the same backend switch as everything else (the
  sandbox included) through the environment, never on a command line that ``ps`` shows,
- refuses targets that would hide files or nest mounts, waits until the mount really answers,
  cleans stale mounts, and unmounts lazily when a folder is busy.

What each tool does with an append, a rename, an ``rm``... is data, in :mod:`s3lab.mount.semantics`.

Each mount program runs in the foreground of its own session (so it outlives the command that
started it), with its output in ``$S3LAB_HOME/mounts/<key>.log``; a record next to it lets
``s3lab mount --list`` and ``s3lab unmount`` say which bucket and flags a folder has, and says
which process to stop (see :mod:`s3lab.processes`: it is signalled only while it still matches).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3lab import backends, processes, settings, statefiles
from s3lab.errors import (
    MountError,
    NotInstalledError,
    S3LabError,
    UsageError,
)
from s3lab.mount import tools as mount_tools
from s3lab.mount.tools import PLANS, check_bucket, connection, pick_tool

logger = logging.getLogger(__name__)


# What each program puts in /proc/mounts: (source, fstype).
_SIGNATURES = {"mountpoint": ("mountpoint-s3", "fuse"), "rclone": ("", "fuse.rclone")}
_SIGNATURES["s3fs"] = ("s3fs", "fuse.s3fs")


# --- the mount table ------------------------------------------------------------------------------


@dataclass
class Mount:
    """A mounted bucket, as recorded by s3lab and seen in /proc/mounts."""

    directory: str
    bucket: str = "?"
    tool: str = "?"
    prefix: str = ""
    flags: list[str] = field(default_factory=list)
    endpoint_url: str | None = None
    pid: int = 0
    log: str = ""
    state: str = "mounted"  # mounted or stale
    notes: list[str] = field(default_factory=list)
    # what identifies the mount program besides its pid (see s3lab.processes)
    since_boot: float = 0.0
    cmdline: list[str] = field(default_factory=list)

    def identity(self) -> processes.Identity:
        """The recorded mount program, to check before it is signalled."""
        return processes.Identity(self.pid, self.since_boot, tuple(self.cmdline))

    def describe(self) -> str:
        """One line for ``s3lab mount --list``."""
        where = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        flags = f" [{', '.join(self.flags)}]" if self.flags else ""
        return f"{self.directory}  {self.state:7} {self.tool:10} s3://{where}{flags}"

    def __repr__(self) -> str:  # short, stable, and with no endpoint port, for notebooks
        flags = f", {', '.join(self.flags)}" if self.flags else ""
        return f"Mount({self.bucket!r} on {self.directory!r} with {self.tool}{flags})"


def _unescape(path: str) -> str:
    r"""Undo /proc/mounts' octal escapes (``\040``) in the bytes: the rest may be UTF-8."""
    octal = re.compile(rb"\\([0-7]{3})")
    return os.fsdecode(octal.sub(lambda m: bytes([int(m[1], 8)]), os.fsencode(path)))


def fuse_mounts() -> dict[str, tuple[str, str]]:
    """Every FUSE mount on this machine: ``{directory: (source, fstype)}``."""
    found: dict[str, tuple[str, str]] = {}
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and (parts[2] == "fuse" or parts[2].startswith("fuse.")):
            found[_unescape(parts[1])] = (parts[0], parts[2])
    return found


def _state_dir() -> Path:
    path = settings.home() / "mounts"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _key(directory: str) -> str:
    return hashlib.sha1(directory.encode()).hexdigest()[:12]


def _record_path(directory: str) -> Path:
    return _state_dir() / f"{_key(directory)}.json"


def _read_record(directory: str) -> Mount | None:
    raw = statefiles.read_json(_record_path(directory), None, kind=dict)
    try:
        return Mount(**processes.upgraded(raw)) if raw else None
    except TypeError:  # fields of another version: not a record to trust
        return None


def is_stale(directory: str) -> bool:
    """True for a mount whose program is gone: "Transport endpoint is not connected"."""
    try:
        Path(directory).stat()
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO)
    return False


def mounts() -> list[Mount]:
    """The buckets mounted on this machine by mount-s3, rclone or s3fs (by s3lab or not)."""
    result = []
    for directory, (source, fstype) in sorted(fuse_mounts().items()):
        record = _read_record(directory)
        if record is None:
            tool = next(
                (
                    t
                    for t, (src, fs) in _SIGNATURES.items()
                    if fs == fstype and (not src or src == source)
                ),
                None,
            )
            if tool is None:
                continue  # some other FUSE file system
            bucket = source.rsplit(":", 1)[-1] if tool == "rclone" else "?"
            record = Mount(directory, bucket, tool, notes=["not mounted by s3lab"])
        record.state = "stale" if is_stale(directory) else "mounted"
        result.append(record)
    return result


# --- mount ----------------------------------------------------------------------------------------


def _abspath(directory: str | os.PathLike[str]) -> str:
    """An absolute path without following the last component (it may be a dead mount)."""
    path = Path(directory).expanduser().absolute()
    return str(path.parent.resolve() / path.name)


def _unmount_command(lazy: bool) -> list[str]:
    for program in ("fusermount3", "fusermount"):
        if shutil.which(program):
            return [program, "-uz" if lazy else "-u"]
    return ["umount", "-l"] if lazy else ["umount"]


def _clean_stale(directory: str) -> None:
    subprocess.run(
        [*_unmount_command(lazy=True), directory], capture_output=True, text=True, check=False
    )


def prepare_target(directory: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """Check (and create) the folder to mount on; returns it and notes about what was done.

    Refuses a folder that has files (they would be hidden while mounted), that is already a
    mount, or that lies inside another FUSE mount (a bucket inside a bucket: the seed's rule,
    "neither inside the other").

    Raises:
        UsageError: ``directory`` is a file.
        MountError: it is a mount already, inside another FUSE mount, or not empty.
    """
    target = _abspath(directory)
    notes = []
    table = fuse_mounts()
    if target in table:
        if not is_stale(target):
            record = _read_record(target)
            what = f" (bucket {record.bucket}, {record.tool})" if record else ""
            raise MountError(
                f"{target} is already a mount{what}",
                f"unmount it first: s3lab unmount {target}  (or mount on another folder)",
            )
        _clean_stale(target)
        notes.append(f"cleaned a stale mount on {target} (its program had died)")
    for other in table:
        if other != target and target.startswith(other.rstrip("/") + "/"):
            raise MountError(
                f"{target} is inside another FUSE mount ({other})",
                "mount on a folder outside every mounted bucket, e.g. next to it",
            )
    path = Path(target)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{target} is a file, not a folder", "give an empty folder to mount on")
    if path.is_dir() and any(path.iterdir()):
        raise MountError(
            f"{target} is not empty",
            "mount on an empty folder: files in it would be hidden while the bucket is mounted",
        )
    if not path.exists():
        path.mkdir(parents=True)
        notes.append(f"created the folder {target}")
    return target, notes


def _normal_prefix(prefix: str | None) -> str:
    """Mountpoint wants ``p/`` (it refuses ``p``); accept both and hand on ``p/``."""
    if not prefix:
        return ""
    return prefix.strip("/") + "/"


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # kept so they can be reaped on unmount


def _first_error(log: str) -> str:
    """The line of a mount program's output that says what went wrong."""
    try:
        lines = [line.strip() for line in Path(log).read_text(errors="replace").splitlines()]
    except OSError:
        return "no output"
    lines = [line for line in lines if line]
    for word in ("CRITICAL", "ERROR", "Error", "error", "failed", "fail"):
        for line in lines:
            if word in line:
                return line[:300]
    return lines[-1][:300] if lines else "no output"


def _program_name(proc: subprocess.Popen[bytes]) -> str:
    """The program a child runs (the first word of its command line)."""
    args = proc.args if isinstance(proc.args, (list, tuple)) else [proc.args]
    return os.fsdecode(args[0])  # type: ignore[arg-type]


def _wait_until_up(target: str, proc: subprocess.Popen[bytes], log: str, timeout: float) -> None:
    """Poll /proc/mounts and a stat of the folder until the mount answers, or fail with why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target in fuse_mounts() and not is_stale(target):
            try:
                next(Path(target).iterdir(), None)
                return
            except OSError:
                pass
        if proc.poll() is not None:
            raise MountError(
                f"{Path(_program_name(proc)).name} stopped: {_first_error(log)}",
                f"read the whole output in {log}",
            )
        time.sleep(0.1)
    processes.stop_child(proc, grace=5.0)
    if target in fuse_mounts():
        _clean_stale(target)
    raise MountError(
        f"the mount did not answer within {timeout:.0f} s",
        f"read {log}; check the endpoint and the network, then try again",
    )


def _fuse_allows_other(conf: Path = Path("/etc/fuse.conf")) -> bool:
    """True when /etc/fuse.conf lets users who are not root mount with allow_other."""
    try:
        lines = conf.read_text().splitlines()
    except OSError:
        return False
    return any(line.split("#", 1)[0].strip() == "user_allow_other" for line in lines)


def _options(
    allow_delete: bool,
    allow_overwrite: bool,
    read_only: bool,
    prefix: str | None,
    uid: int | None,
    gid: int | None,
    allow_other: bool,
    metadata_ttl: int | None = None,
) -> dict[str, Any]:  # keyword or positional, as mount() and persist() call it
    """The mount's options as the tools' plans read them (Mountpoint's flags, by name)."""
    if read_only and (allow_delete or allow_overwrite):
        raise UsageError(
            "--read-only cannot be combined with --allow-delete or --allow-overwrite",
            "choose one: a read-only mount, or a writable one",
        )
    if metadata_ttl is not None and metadata_ttl < 1:
        raise UsageError("--metadata-ttl must be a whole number of seconds, 1 or more", "e.g. 3")
    return {
        "allow_delete": allow_delete,
        "allow_overwrite": allow_overwrite,
        "read_only": read_only,
        "prefix": _normal_prefix(prefix),
        "uid": uid,
        "gid": gid,
        "allow_other": allow_other,
        "metadata_ttl": metadata_ttl,
    }


def persist(bucket: str, directory: str | os.PathLike[str], **options: Any) -> tuple[str, str]:
    """A mount that survives a reboot: the fstab line or systemd unit, and where it goes.

    Nothing is mounted now. ``options`` are :func:`mount`'s (``tool``, ``allow_delete``,
    ``read_only``, ``prefix``, ``uid``, ``gid``, ``allow_other``, ``profile``, ...).
    """
    flags = {name: options.pop(name, None) for name in ("prefix", "uid", "gid", "metadata_ttl")}
    for name in ("allow_delete", "allow_overwrite", "read_only", "allow_other"):
        flags[name] = bool(options.pop(name, False))
    opts = _options(**flags)
    wanted = options.pop("tool", "auto")
    try:
        tool, program, _ = pick_tool(wanted)
    except NotInstalledError:  # the line is for a machine that will have it
        if wanted not in mount_tools.PROGRAMS:
            raise
        tool, program = wanted, mount_tools.PROGRAMS[wanted]
    conn = connection(options.pop("lab", None), **options)
    target = str(Path(directory).expanduser().absolute())
    return mount_tools.persist(tool, program, bucket, target, conn, opts)


def mount(
    bucket: str,
    directory: str | os.PathLike[str],
    *,
    tool: str = "auto",
    allow_delete: bool = False,
    allow_overwrite: bool = False,
    read_only: bool = False,
    prefix: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    path_style: bool | None = None,
    uid: int | None = None,
    gid: int | None = None,
    allow_other: bool = False,
    metadata_ttl: int | None = None,
    lab: backends.Backend | None = None,
    timeout: float = 30.0,
) -> Mount:
    """Mount ``bucket`` on ``directory`` and return once the folder really shows the bucket.

    ``tool`` is the mount program: ``auto``, ``mountpoint``, ``rclone`` or ``s3fs``. The flags
    are Mountpoint's. rclone and s3fs honour ``read_only``, ``prefix``, ``uid`` and ``gid``;
    neither can refuse deletes or overwrites, so the returned ``notes`` say so.

    A FUSE mount is refused to every user but the one who made it, root and containers
    included; ``allow_other`` opens it to them (for a user who is not root, FUSE allows that
    only with ``user_allow_other`` in /etc/fuse.conf: a note says so when it is missing).
    ``metadata_ttl`` (seconds) is how long the tool may trust what it last heard from S3.
    """
    opts = _options(
        allow_delete, allow_overwrite, read_only, prefix, uid, gid, allow_other, metadata_ttl
    )
    tool, program, why = pick_tool(tool)
    conn = connection(lab, profile=profile, endpoint_url=endpoint_url, path_style=path_style)
    check_bucket(conn, bucket)
    target, notes = prepare_target(directory)
    if allow_other and os.geteuid() != 0 and not _fuse_allows_other():
        notes.append(
            "--allow-other needs `user_allow_other` in /etc/fuse.conf for a user who is not "
            "root: sudo sh -c 'echo user_allow_other >> /etc/fuse.conf'"
        )
    plan = PLANS[tool](program, bucket, target, conn, opts)
    log = str(_state_dir() / f"{_key(target)}.log")
    try:
        with Path(log).open("wb") as out:
            proc = processes.spawn(plan.argv, output=out, env=plan.env, cwd="/")
        _CHILDREN[proc.pid] = proc
        _wait_until_up(target, proc, log, timeout)
        # Identified once the mount answers: a wrapper (the tests' stand-in) has exec'd by now.
        identity = processes.settled(proc)
    finally:
        if plan.secret_dir:
            shutil.rmtree(plan.secret_dir, ignore_errors=True)
    flags = [
        o.replace("_", "-")
        for o in ("allow_delete", "allow_overwrite", "read_only", "allow_other")
        if opts[o]
    ] + ([f"metadata-ttl {metadata_ttl}s"] if metadata_ttl else [])
    record = Mount(
        target,
        bucket,
        tool,
        opts["prefix"],
        flags,
        conn.endpoint_url,
        proc.pid,
        log,
        # "backend:" is what the chapters' saved outputs show; it names the tool chosen.
        notes=[f"tool: {why}", *notes, *plan.notes],
        since_boot=identity.since_boot,
        cmdline=list(identity.cmdline),
    )
    statefiles.write_json(_record_path(target), asdict(record))  # atomic: never half a record
    return record


# --- unmount --------------------------------------------------------------------------------------


def _reap(pid: int) -> None:
    """Collect a mount program this process started, once it exited (no zombie left)."""
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        del _CHILDREN[pid]


def unmount(directory: str | os.PathLike[str], *, timeout: float = 10.0) -> str:
    """Unmount the bucket on ``directory``; returns what was done, as one sentence.

    A busy folder (a shell or program has its working directory or a file open inside) is
    unmounted lazily: it disappears from the tree now and is released when the last user leaves.
    A stale mount (its program died) is cleaned the same way.

    Raises:
        MountError: ``directory`` is not mounted, or stays mounted.
    """
    target = _abspath(directory)
    record = _read_record(target)
    if target not in fuse_mounts():
        _record_path(target).unlink(missing_ok=True)
        raise MountError(f"{target} is not mounted", "see what is mounted: s3lab mount --list")
    stale = is_stale(target)
    done = f"unmounted {target}"
    if stale:
        _clean_stale(target)
        done = f"cleaned the stale mount on {target} (its program had died)"
    else:
        result = subprocess.run(
            [*_unmount_command(lazy=False), target], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            if "busy" not in output:
                raise MountError(
                    f"could not unmount {target}: {output.splitlines()[-1] if output else '?'}",
                    "as root: umount -l DIR; as a user: fusermount3 -uz DIR",
                )
            _clean_stale(target)  # lazy
            done = (
                f"{target} was busy (a shell or program is using it): unmounted lazily; "
                "it is released when the last program leaves the folder"
            )
    if record and record.pid:
        # The program exits by itself once unmounted; stop it only if it is still the one
        # recorded (a stale record is discarded with a note in the log, nothing signalled).
        processes.stop(
            record.identity(),
            first_wait=timeout / 2,
            grace=timeout / 2,
            reap=lambda: _reap(record.pid),
        )
        _reap(record.pid)
    _record_path(target).unlink(missing_ok=True)
    if target in fuse_mounts():
        raise MountError(
            f"{target} is still mounted", f"try: {' '.join(_unmount_command(True))} DIR"
        )
    return done


def mounted_under(under: str | os.PathLike[str]) -> list[str]:
    """The FUSE mounts at or below ``under``, deepest first.

    A folder with anything in this list must not be removed: deleting files through a live
    mount deletes the bucket's objects.
    """
    root = _abspath(under).rstrip("/")
    found = sorted(fuse_mounts(), reverse=True)
    return [d for d in found if d == root or d.startswith(root + "/")]


def unmount_all(under: str | os.PathLike[str]) -> list[str]:
    """Unmount every FUSE mount at or below ``under`` (a safety net for tests and notebooks)."""
    done = []
    for directory in mounted_under(under):
        try:
            done.append(unmount(directory))
        except S3LabError as exc:
            done.append(exc.one_line())
    return done


def unmount_at_exit(under: str | os.PathLike[str]) -> None:
    """Unmount everything below ``under`` when this Python process ends.

    A notebook's mount programs outlive its kernel (they run in their own session), so a
    notebook that stops at a failing cell would leave its mounts behind; this is its safety net.
    """
    import atexit

    atexit.register(unmount_all, os.fspath(under))
