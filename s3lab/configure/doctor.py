"""``s3lab doctor``: find why an AWS set-up fails, one check at a time, each failure with its fix.

The checks run in the order of cause and effect: a tool, a region, keys, a network path, then
whether the service accepts the keys. A check that cannot run because an earlier one failed is
``skip``, so the first FAIL is the one to fix. Advice for an error AWS answers with comes from
the one table in :mod:`s3lab.errors`; the checks here only say what they looked at.
"""

from __future__ import annotations

import email.utils
import json
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from s3lab import clients
from s3lab.configure.awsfiles import (
    config_path,
    credential_location,
    credentials_path,
    mask,
    session_for,
    too_open,
)
from s3lab.configure.regions import check_region, region_error
from s3lab.errors import AWS_ERRORS, ConfigError, CredentialsError, S3LabError, translate
from s3lab.install.machine import parse_aws_version

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import Credentials
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

# The first aws CLI releases that read `endpoint_url` from a profile.
ENDPOINT_URL_SINCE = {1: (1, 29, 0), 2: (2, 13, 0)}
# AWS refuses signatures 15 minutes off; warn well before.
MAX_SKEW_SECONDS = 300
# STS answers that mean "no STS here" rather than "bad credentials" (SeaweedFS, some Ceph).
_NO_STS_STATUS = {400, 403, 404, 405, 501, 503}


@dataclass
class Check:
    """One row of doctor's table. ``status``: ok, FAIL or skip (could not run: see above)."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Context:
    """What the checks learn and pass on (the session, the endpoint, a server's Date)."""

    profile: str | None
    session: botocore.session.Session | None = None
    credentials: Credentials | None = None
    region: str | None = None
    region_ok: bool = False
    endpoint: str = ""
    reachable: bool = False
    accepted: bool = False
    server_date: str | None = None
    notes: list[str] = field(default_factory=list)


def _timeouts() -> Config:
    """One quick try per check: doctor reports a silent endpoint instead of retrying it."""
    connect, read, _ = clients.patience()
    return clients.client_config(
        attempts=1, connect_timeout=min(connect, 3.0), read_timeout=min(read, 5.0)
    )


def _session(ctx: Context) -> botocore.session.Session:
    if ctx.session is None:  # doctor() makes it before any check runs
        raise ConfigError("no AWS session to check")
    return ctx.session


def _s3(ctx: Context) -> S3Client:
    """An S3 client of the session checked, from the one factory, with one quick try."""
    region = ctx.region or "us-east-1"
    return clients.client(
        _session(ctx), "s3", helpers=False, region_name=region, config=_timeouts()
    )


def _sts(ctx: Context) -> STSClient:
    """The same for STS."""
    region = ctx.region or "us-east-1"
    return clients.client(
        _session(ctx), "sts", helpers=False, region_name=region, config=_timeouts()
    )


def _remember_date(ctx: Context, response: Mapping[str, Any]) -> None:
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        ctx.server_date = date


def _error(exc: BaseException, doing: str = "") -> S3LabError:
    """``exc`` as an S3LabError: from the one table for AWS errors, else named as it is.

    doctor reports every failure as a row rather than a traceback, so even an error from
    outside botocore, s3transfer and the CRT becomes a row, with ConfigError's fix.
    """
    found = translate(exc, doing)
    if found is not None:
        return found
    prefix = f"{doing}: " if doing else ""
    return ConfigError(f"{prefix}{type(exc).__name__}: {exc}")


def _rejects_credentials(code: str) -> bool:
    """Whether the table says this code means the service refused the credentials."""
    return AWS_ERRORS.get(code, (None, ""))[0] is CredentialsError


def check_cli(ctx: Context) -> Check:
    """The aws command exists and is new enough to read ``endpoint_url`` from a profile."""
    name = "aws CLI"
    aws = shutil.which("aws")
    if not aws:
        return Check(
            name, "FAIL", "the `aws` command is not on PATH", "install it: `s3lab install awscli`"
        )
    try:
        result = subprocess.run(
            [aws, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(
            name, "FAIL", f"{aws} does not run: {exc}", "reinstall it: `s3lab install awscli`"
        )
    parsed = parse_aws_version(result.stdout or result.stderr)
    if parsed is None:
        return Check(
            name,
            "FAIL",
            f"{aws} --version printed no aws-cli/X.Y.Z",
            "reinstall it: `s3lab install awscli`",
        )
    shown, major = parsed
    version = tuple(int(part) for part in shown.split("."))
    minimum = ENDPOINT_URL_SINCE.get(major)
    if minimum is None or version < minimum:
        need = ".".join(map(str, minimum or ENDPOINT_URL_SINCE[2]))
        return Check(
            name,
            "FAIL",
            f"aws-cli {shown} is too old to read endpoint_url from a profile (needs {need})",
            "update it: `s3lab install awscli`",
        )
    return Check(name, "ok", f"aws-cli {shown} (v{major})")


def check_region_set(ctx: Context) -> Check:
    """A region is set and is one (botocore's list), or has the shape of a newer one."""
    name = "region"
    try:
        ctx.region = _session(ctx).get_config_variable("region")
    except Exception as exc:
        error = _error(exc, "reading the profile")
        return Check(name, "FAIL", error.message, error.hint)
    if not ctx.region:
        return Check(
            name,
            "FAIL",
            "no region is set",
            "s3lab configure --region us-west-2  (your bucket's region)",
        )
    verdict = check_region(ctx.region)
    if not verdict.ok:
        error = region_error(verdict)
        return Check(name, "FAIL", error.message, error.hint)
    ctx.region_ok = True
    return Check(
        name, "ok", ctx.region + (" (newer than botocore: accepted)" if verdict.note else "")
    )


def check_credentials_found(ctx: Context) -> Check:
    """Credentials exist somewhere in botocore's chain; say where (the classic surprise)."""
    name = "credentials found"
    try:
        ctx.credentials = _session(ctx).get_credentials()
    except Exception as exc:
        error = _error(exc, "reading credentials")
        return Check(name, "FAIL", error.message, error.hint)
    if ctx.credentials is None:
        return Check(
            name,
            "FAIL",
            "no credentials in the environment, the profile or an instance role",
            "s3lab configure  (or attach an IAM role to this VM)",
        )
    method = ctx.credentials.method
    where = credential_location(method, ctx.profile)
    return Check(name, "ok", f"{mask(ctx.credentials.access_key)} from {method}: {where}")


def check_private(ctx: Context) -> Check:
    """Credential files are private to their owner (0600)."""
    name = "credentials private"
    open_files = [p for p in (credentials_path(), config_path()) if too_open(p)]
    if open_files:
        shown = ", ".join(f"{p} ({stat.filemode(p.stat().st_mode)})" for p in open_files)
        return Check(name, "FAIL", f"others can read {shown}", "s3lab configure --fix-permissions")
    return Check(name, "ok", "credential files are 0600 (or absent)")


def check_endpoint(ctx: Context) -> Check:
    """The S3 endpoint's name resolves and it takes TCP connections; says which step failed."""
    name = "endpoint reachable"
    try:
        ctx.endpoint = _s3(ctx).meta.endpoint_url
    except Exception as exc:
        error = _error(exc, "building an S3 client")
        return Check(name, "FAIL", error.message, error.hint)
    parts = urlsplit(ctx.endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    region_first = (
        f"the region {ctx.region!r} is suspect first: fix it (see above), then run doctor again"
        if ctx.region and not ctx.region_ok
        else ""
    )
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return Check(
            name,
            "FAIL",
            f"DNS: the name {host} does not resolve",
            region_first or "check the endpoint's spelling and your network (VPN, proxy)",
        )
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        local = host in ("127.0.0.1", "localhost", "::1")
        fix = region_first or (
            "start the sandbox: `s3lab sandbox start`, then `s3lab configure --sandbox`"
            if local
            else "check the endpoint's port and your network or firewall"
        )
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        return Check(name, "FAIL", f"connect: {host}:{port}: {reason}", fix)
    ctx.reachable = True
    return Check(name, "ok", ctx.endpoint)


def check_identity(ctx: Context) -> Check:
    """The service accepts the key: STS GetCallerIdentity, or a signed ListBuckets without STS."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "credentials accepted"
    if ctx.credentials is None or not ctx.reachable:
        return Check(name, "skip", "needs credentials and a reachable endpoint (see above)")
    arn = ""
    try:
        sts = _sts(ctx)
        answer = sts.get_caller_identity()
        _remember_date(ctx, answer)
        arn = str(answer.get("Arn"))
        if not _separate_sts(sts.meta.endpoint_url, _s3(ctx).meta.endpoint_url):
            ctx.accepted = True
            return Check(name, "ok", f"{arn} (sts get-caller-identity)")
        # A local STS stand-in accepts any key: only the S3 server itself can say.
    except ClientError as exc:
        _remember_date(ctx, exc.response)
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        # A refusal of the keys is the verdict; any other answer with a code, unless its
        # status says "no STS here", is one too. Without STS, ask S3 instead.
        if _rejects_credentials(code) or (code and status not in _NO_STS_STATUS):
            return _rejected(name, exc)
    except BotoCoreError:
        pass
    try:
        listed = _s3(ctx).list_buckets()
        _remember_date(ctx, listed)
    except ClientError as exc:
        _remember_date(ctx, exc.response)
        return _rejected(name, exc, " (a signed S3 ListBuckets: this endpoint has no STS)")
    except BotoCoreError as exc:
        error = _error(exc, "signed S3 ListBuckets")
        return Check(name, "FAIL", error.message, error.hint)
    ctx.accepted = True
    if arn:
        return Check(name, "ok", f"{arn} (sts get-caller-identity; S3 itself accepted it too)")
    return Check(name, "ok", "a signed S3 ListBuckets was accepted (this endpoint has no STS)")


def _separate_sts(sts_url: str, s3_url: str) -> bool:
    """True when STS is answered by another local server than S3 (the SeaweedFS sandbox's).

    On AWS, STS and S3 are separate hosts of one account system: STS's answer covers S3.
    """
    from urllib.parse import urlsplit

    sts_host, s3_host = urlsplit(sts_url).netloc, urlsplit(s3_url).netloc
    return sts_host != s3_host and "amazonaws.com" not in s3_host


def _rejected(name: str, exc: Exception, how: str = "") -> Check:
    """A FAIL row for an answer AWS gave: the message and the fix from the one table."""
    error = _error(exc)
    return Check(name, "FAIL", f"{error.message}{how}", error.hint)


def check_list(ctx: Context) -> Check:
    """ListBuckets works: the call every ``aws s3 ls`` starts with."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "S3 list works"
    if not ctx.accepted:
        return Check(name, "skip", "needs credentials the service accepts (see above)")
    try:
        answer = _s3(ctx).list_buckets()
    except ClientError as exc:
        _remember_date(ctx, exc.response)
        return _rejected(name, exc)
    except BotoCoreError as exc:
        error = _error(exc, "ListBuckets")
        return Check(name, "FAIL", error.message, error.hint)
    _remember_date(ctx, answer)
    return Check(name, "ok", "ListBuckets answered")


def check_fuse(ctx: Context) -> Check:
    """Mounting a bucket needs the FUSE device and fusermount (to unmount as a user)."""
    name = "FUSE for mounts"
    if not Path("/dev/fuse").exists():
        return Check(
            name,
            "FAIL",
            "/dev/fuse is missing",
            "on Linux: sudo modprobe fuse; in a container: --device /dev/fuse --cap-add SYS_ADMIN",
        )
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if not tool:
        return Check(
            name, "FAIL", "no fusermount3 or fusermount on PATH", "sudo apt-get install fuse3"
        )
    return Check(name, "ok", f"/dev/fuse and {Path(tool).name}")


def check_clock(ctx: Context) -> Check:
    """The local clock agrees with the server's (the HTTP Date header); AWS refuses 15 min off."""
    name = "clock skew"
    if not ctx.server_date:
        return Check(name, "skip", "no answer from the server to compare with")
    try:
        server = email.utils.parsedate_to_datetime(ctx.server_date).timestamp()
    except (TypeError, ValueError):
        return Check(name, "skip", f"the server's Date header is unreadable: {ctx.server_date!r}")
    skew = time.time() - server
    if abs(skew) >= MAX_SKEW_SECONDS:
        side = "ahead of" if skew > 0 else "behind"
        return Check(
            name,
            "FAIL",
            f"this clock is {abs(skew):.0f} s {side} the server's; signatures fail at 15 minutes",
            "turn on time sync: sudo timedatectl set-ntp true",
        )
    return Check(name, "ok", f"within {MAX_SKEW_SECONDS // 60} minutes of the server's clock")


CHECKS: tuple[Callable[[Context], Check], ...] = (
    check_cli,
    check_region_set,
    check_credentials_found,
    check_private,
    check_endpoint,
    check_identity,
    check_list,
    check_fuse,
    check_clock,
)


@dataclass
class Report:
    """doctor's verdict: the checks in order; ``ok`` only when none failed."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when every check passed (a skipped check means an earlier one failed)."""
        return all(c.status == "ok" for c in self.checks)

    def failures(self) -> list[Check]:
        """The failed checks, first cause first."""
        return [c for c in self.checks if c.status == "FAIL"]

    def table(self) -> str:
        """The table the CLI prints: one row per check, the fix under each failure."""
        width = max(len(c.name) for c in self.checks)
        lines = [f"{'check':<{width}}  {'result':<6}  detail"]
        for c in self.checks:
            lines.append(f"{c.name:<{width}}  {c.status:<6}  {c.detail}")
            if c.fix:
                lines.append(f"{'':<{width}}  {'':<6}  fix: {c.fix}")
        verdict = "all checks passed" if self.ok else f"{len(self.failures())} check(s) failed"
        return "\n".join([*lines, verdict])

    def to_json(self) -> str:
        """The same facts for scripts: ``s3lab doctor --json``."""
        return json.dumps({"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, indent=2)

    def __getitem__(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def doctor(profile: str | None = None) -> Report:
    """Run every check in order against ``profile`` (else AWS_PROFILE / default) and the env.

    The order follows cause and effect: a tool, a region, keys, a network path, then whether
    the service accepts the keys. A check that cannot run because an earlier one failed is
    ``skip``, so the first FAIL is the one to fix.
    """
    ctx = Context(profile)
    try:
        ctx.session = session_for(profile)
        ctx.session.get_scoped_config()
    except Exception as exc:
        error = _error(exc, "reading the AWS profile")
        return Report([Check("profile", "FAIL", error.message, error.hint)])
    return Report([_port_hint(ctx, check(ctx)) for check in CHECKS])


def _port_hint(ctx: Context, check: Check) -> Check:
    """Name the port that does answer, when a local endpoint never answers.

    That is most often a mistyped port; a running sandbox's port makes the fix a number.
    """
    # Only for a silent one: a refused port already gets "start the sandbox, configure it".
    if check.status != "FAIL" or "did not answer" not in check.detail:
        return check
    parts = urlsplit(ctx.endpoint)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return check
    from s3lab import sandbox

    answering = [
        f"the {name} sandbox answers on port {box.port}"
        for name in sandbox.SANDBOXES
        if (box := sandbox.running(name)) is not None and box.port != parts.port
    ]
    if not answering:
        return check
    there = "`s3lab configure --sandbox` points a profile there"
    fix = f"{'; '.join(answering)} ({there}); or {check.fix}"
    return Check(check.name, check.status, check.detail, fix)
