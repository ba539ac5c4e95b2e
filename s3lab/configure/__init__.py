"""AWS profiles written the way ``aws configure`` writes them, with the classic traps refused.

Three traps stop learners: a region typo (``uswest-2``) that only says "Could not connect", a key
and its secret swapped, and keys committed to GitHub. This module writes ``~/.aws/credentials``
and ``~/.aws/config`` as ``aws configure`` does (keys to one, settings to the other), refuses
the traps before anything is written, and lists what is set the way ``aws configure list`` does.

Where the files are and how they are read and edited is :mod:`s3lab.configure.awsfiles`;
which regions exist is :mod:`s3lab.configure.regions`; finding why a set-up fails is
:mod:`s3lab.configure.doctor`.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from s3lab.configure.awsfiles import (
    config_path,
    credential_location,
    credentials_path,
    guard_git,
    mask,
    read_profiles,
    section_name,
    service_endpoints,
    services_section,
    session_for,
    set_values,
    too_open,
    write_private,
)
from s3lab.configure.inputs import OUTPUTS as OUTPUTS  # what people type, checked
from s3lab.configure.inputs import check_access_key_id as check_access_key_id
from s3lab.configure.inputs import check_endpoint_url as check_endpoint_url
from s3lab.configure.inputs import check_output as check_output
from s3lab.configure.inputs import check_plain
from s3lab.configure.inputs import check_profile_name as check_profile_name
from s3lab.configure.inputs import check_secret as check_secret
from s3lab.configure.inputs import key_shape_note as key_shape_note
from s3lab.configure.regions import check_region, region_error
from s3lab.errors import UsageError, translate
from s3lab.settings import ENDPOINT_VARIABLES, first_set

if TYPE_CHECKING:
    import botocore.session

    from s3lab.sandbox import Sandbox

KOPAH_ENDPOINT = "https://s3.kopah.uw.edu"
SANDBOX_PROFILE = "s3lab-sandbox"

# Ceph (Kopah) answers virtual-host requests only for some set-ups, and rejects the CRC
# checksums that aws CLI >= 2.23 / boto3 >= 1.36 send by default.
KOPAH_SETTINGS: dict[str, str | dict[str, str]] = {
    "endpoint_url": KOPAH_ENDPOINT,
    "s3": {"addressing_style": "path"},
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}

# --- configure ----------------------------------------------------------------------------------


@dataclass
class Written:
    """What ``configure`` changed, to print or to check; never holds a secret."""

    profile: str
    credentials: Path | None
    config: Path | None
    access_key: str = ""
    notes: list[str] = field(default_factory=list)
    title: str = ""  # what was written, when not an AWS profile

    def summary(self) -> str:
        """The lines the CLI prints."""
        lines = [f"{self.title or f'profile {self.profile!r}'}:"]
        if self.credentials:
            lines.append(f"  keys ({mask(self.access_key)}) -> {self.credentials}")
        if self.config:
            lines.append(f"  settings -> {self.config}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def configure(
    profile: str = "default",
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    region: str | None = None,
    output: str | None = None,
    endpoint_url: str | None = None,
    settings: Mapping[str, str | Mapping[str, str] | None] | None = None,
    force: bool = False,
    sts_endpoint_url: str | None = None,
) -> Written:
    """Write one profile like ``aws configure`` does: keys to credentials, the rest to config.

    Everything is checked before anything is written, so a refused value leaves both files
    byte for byte as they were. A new access key without a session token removes an old
    token from the profile: a stale token with a new key is rejected by AWS.

    A profile with an endpoint also names a ``[services NAME]`` section giving S3 and STS their
    own endpoints (``sts_endpoint_url``, default :func:`s3lab.sandbox.sts_endpoint_for`), read
    by CLI v2 and botocore alike: ``aws --profile NAME sts get-caller-identity`` then works from
    a fresh shell, where the bare ``endpoint_url`` would send STS to an S3-only server.

    Raises:
        UsageError: a value is not valid, a key comes without its secret, or there is nothing to
            write.
    """
    check_profile_name(profile)
    if (access_key_id is None) != (secret_access_key is None):
        raise UsageError(
            "an access key id and its secret go together",
            "give both --access-key-id and --secret-access-key (- reads the secret from stdin)",
        )
    keys: dict[str, str | Mapping[str, str] | None] = {}
    notes: list[str] = []
    if access_key_id is not None and secret_access_key is not None:
        custom = _has_custom_endpoint(profile, endpoint_url, settings)
        keys = {
            "aws_access_key_id": check_access_key_id(access_key_id, custom_endpoint=custom),
            "aws_secret_access_key": check_secret(secret_access_key, custom_endpoint=custom),
            "aws_session_token": check_plain(session_token, "session token", "--session-token")
            if session_token
            else None,
        }
        note = key_shape_note(access_key_id, secret_access_key) if custom else ""
        if note:
            notes.append(note)
    elif session_token:
        raise UsageError(
            "a session token needs its key", "add --access-key-id and --secret-access-key"
        )
    options: dict[str, str | Mapping[str, str] | None] = dict(settings or {})
    if region is not None:
        verdict = check_region(region)
        if not verdict.ok:
            raise region_error(verdict)
        if verdict.note:
            notes.append(verdict.note)
        options["region"] = region
    if output is not None:
        options["output"] = check_output(output)
    if endpoint_url is not None:
        options["endpoint_url"] = check_endpoint_url(endpoint_url)
    services: dict[str, str | Mapping[str, str] | None] = {}
    endpoint = options.get("endpoint_url")
    if isinstance(endpoint, str) and endpoint:
        from s3lab import sandbox

        sts = check_endpoint_url(sts_endpoint_url) if sts_endpoint_url else None
        options["services"] = profile
        services = service_endpoints(endpoint, sts or sandbox.sts_endpoint_for(endpoint))
    if not keys and not options:
        raise UsageError(
            "nothing to configure",
            "give --access-key-id/--secret-access-key, --region, --endpoint-url or --kopah",
        )
    creds_file, conf_file = credentials_path(), config_path()
    if keys:
        guard_git(creds_file, force=force)
        read_profiles(creds_file, config=False)  # a broken file is reported, not overwritten
    if options:
        read_profiles(conf_file, config=True)
    # Both new texts are ready before either file is replaced.
    plans = []
    if keys:
        old = creds_file.read_text(encoding="utf-8") if creds_file.exists() else ""
        plans.append((creds_file, set_values(old, section_name(profile, config=False), keys)))
        if too_open(creds_file):
            notes.append(f"{creds_file} was readable by others; it is now private (0600)")
    if options:
        old = conf_file.read_text(encoding="utf-8") if conf_file.exists() else ""
        text = set_values(old, section_name(profile, config=True), options)
        if services:
            text = set_values(text, services_section(profile), services)
        plans.append((conf_file, text))
    for path, text in plans:
        write_private(path, text)
    return Written(
        profile,
        creds_file if keys else None,
        conf_file if options else None,
        access_key_id or "",
        notes,
    )


def _has_custom_endpoint(
    profile: str, endpoint_url: str | None, settings: Mapping[str, Any] | None
) -> bool:
    """True when the profile will send requests somewhere other than AWS (given or already set)."""
    if endpoint_url or (settings or {}).get("endpoint_url"):
        return True
    if not config_path().exists():
        return False
    current = read_profiles(config_path(), config=True).get(profile, {})
    return bool(current.get("endpoint_url"))


def configure_kopah(
    profile: str = "kopah",
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    force: bool = False,
) -> Written:
    """A profile for UW's Kopah (Ceph): its endpoint, path-style, and checksums when required.

    ``endpoint_url`` replaces Kopah's own: the book rehearses with the ``ceph`` sandbox.
    """
    current = read_profiles(config_path(), config=True).get(profile, {})
    return configure(
        profile,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region or (None if current.get("region") else "us-east-1"),
        endpoint_url=endpoint_url,
        settings=KOPAH_SETTINGS,
        force=force,
    )


def s3cmd_text(endpoint_url: str, access_key: str, secret_key: str, region: str) -> str:
    """An s3cmd config (``~/.s3cfg``) for a path-style store such as Kopah or a sandbox.

    ``host_bucket`` is a template in which s3cmd puts each bucket's name where ``%(bucket)s``
    stands. Without the placeholder, as here, s3cmd puts the bucket in the path (path style).
    """
    parts = urlsplit(check_endpoint_url(endpoint_url))
    host = parts.netloc
    return (
        "[default]\n"
        f"access_key = {access_key}\n"
        f"secret_key = {secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"use_https = {parts.scheme == 'https'}\n"
        f"bucket_location = {region}\n"
        "signature_v2 = False\n"
    )


def s3cmd_path() -> Path:
    """Where s3cmd reads its config: ``$S3CMD_CONFIG``, else ``~/.s3cfg``."""
    return Path(os.environ.get("S3CMD_CONFIG") or Path.home() / ".s3cfg").expanduser()


def configure_s3cmd(
    profile: str | None = None,
    *,
    backend: str | None = None,
    path: Path | str | None = None,
    force: bool = False,
) -> Written:
    """Write an s3cmd config from an AWS profile (its keys and endpoint) or a running sandbox.

    The file holds the keys, so it is private (0600) and refused inside a git work tree.
    A profile with no ``endpoint_url`` goes to AWS (``s3.amazonaws.com``).

    Raises:
        UsageError: the profile has no keys.
    """
    target = Path(path).expanduser() if path else s3cmd_path()
    if backend:
        from s3lab import backends, sandbox

        box = backends.running_sandbox(backend)
        source = f"the {box.backend} sandbox"
        key, secret = sandbox.FAKE_ACCESS_KEY_ID, sandbox.FAKE_SECRET_ACCESS_KEY
        endpoint, region = box.endpoint_url, sandbox.REGION
    else:
        name = check_profile_name(profile or "kopah")
        session = session_for(name)
        try:
            creds = session.get_credentials()
            scoped = session.get_scoped_config()
        except Exception as exc:
            raise translate(exc, f"reading the profile {name!r}") or exc from None
        if creds is None:
            raise UsageError(
                f"the profile {name!r} has no keys", f"s3lab configure --profile {name} first"
            )
        source = f"profile {name!r}"
        key, secret = creds.access_key, creds.secret_key
        endpoint = scoped.get("endpoint_url") or "https://s3.amazonaws.com"
        region = scoped.get("region") or "us-east-1"
    guard_git(target, force=force)
    write_private(target, s3cmd_text(endpoint, key, secret, region))
    return Written(
        profile or "",
        target,
        None,
        key,
        [f"path style ({urlsplit(endpoint).netloc}); use it: s3cmd -c {target} ls"],
        title=f"s3cmd config from {source}",
    )


def configure_sandbox(
    backend: str | None = None, *, profile: str = SANDBOX_PROFILE, force: bool = False
) -> Written:
    """A profile for a running sandbox, so plain ``aws --profile s3lab-sandbox s3 ls`` works.

    A restarted sandbox keeps its ports; :func:`start_sandbox` rewrites this profile when one
    had to move.
    """
    from s3lab import backends, sandbox

    box = backends.running_sandbox(backend)
    return configure(
        profile,
        access_key_id=sandbox.FAKE_ACCESS_KEY_ID,
        secret_access_key=sandbox.FAKE_SECRET_ACCESS_KEY,
        region=sandbox.REGION,
        endpoint_url=box.endpoint_url,
        settings={"s3": {"addressing_style": "path"}},
        force=force,
        sts_endpoint_url=box.sts_url or box.endpoint_url,
    )


def start_sandbox(
    name: str, *, port: int | None = None, timeout: float = 90.0, home: Path | str | None = None
) -> tuple[Sandbox, str]:
    """Start a sandbox, keeping the ``s3lab-sandbox`` profile valid; returns it and a note.

    A restarted sandbox keeps its ports. When one was taken meanwhile it gets new ones, and a
    ``s3lab-sandbox`` profile that pointed at its old endpoint is rewritten to the new one; the
    note says so (empty when nothing moved).
    """
    from s3lab import sandbox
    from s3lab.configure import awsfiles

    box = sandbox.start(name, port=port, timeout=timeout, home=home)
    if not box.moved_from:
        return box, ""
    moved = f"its old port was taken, so the {name} sandbox moved to {box.endpoint_url}"
    profiles = awsfiles.read_profiles(awsfiles.config_path(), config=True)
    if profiles.get(SANDBOX_PROFILE, {}).get("endpoint_url") != box.moved_from:
        return box, moved
    configure_sandbox(name, force=True)
    return box, f"{moved}; the {SANDBOX_PROFILE} profile now points there"


def prompt_values(
    profile: str,
    ask: Callable[[str], str],
    ask_secret: Callable[[str], str] | None = None,
) -> dict[str, str | None]:
    r"""Ask like ``aws configure``: four questions; Enter keeps the value shown in brackets.

    ``ask`` puts a question to the person and returns the answer; ``ask_secret`` (default:
    ``ask``) is for the secret, e.g. getpass on a terminal, so that it is never echoed. The
    command line passes functions that read piped input too
    (``printf 'AKIA...\nsecret\nus-west-2\njson\n' | s3lab configure``).
    """
    ask_secret = ask_secret or ask
    keys = read_profiles(credentials_path(), config=False).get(profile, {})
    conf = read_profiles(config_path(), config=True).get(profile, {})
    key_id = ask(f"AWS Access Key ID [{mask(keys.get('aws_access_key_id')) if keys else 'None'}]: ")
    secret = ask_secret(
        f"AWS Secret Access Key [{mask(keys.get('aws_secret_access_key')) if keys else 'None'}]: "
    )
    region = ask(f"Default region name [{conf.get('region', 'None')}]: ")
    output = ask(f"Default output format [{conf.get('output', 'None')}]: ")
    if bool(key_id.strip()) != bool(secret.strip()):
        key_id = key_id.strip() or keys.get("aws_access_key_id", "")
        secret = secret.strip() or keys.get("aws_secret_access_key", "")
    return {
        "access_key_id": key_id.strip() or None,
        "secret_access_key": secret.strip() or None,
        "region": region.strip() or None,
        "output": output.strip() or None,
    }


def read_secret_stdin() -> str:
    """The secret from the first line of stdin (``--secret-access-key -``): not in history."""
    if sys.stdin.isatty():
        return getpass.getpass("AWS Secret Access Key: ")
    return sys.stdin.readline().strip()


# --- configure list -----------------------------------------------------------------------------


@dataclass
class Setting:
    """One row of ``configure list``: what, its (masked) value, and where it came from."""

    name: str
    value: str
    type: str
    location: str


def list_settings(profile: str | None = None) -> list[Setting]:
    """The facts ``aws configure list`` shows (keys masked), plus the endpoint."""
    session = session_for(profile)
    rows = []
    if profile:
        rows.append(Setting("profile", profile, "manual", "--profile"))
    elif os.environ.get("AWS_PROFILE"):
        rows.append(Setting("profile", os.environ["AWS_PROFILE"], "env", "AWS_PROFILE"))
    else:
        rows.append(Setting("profile", "<not set>", "None", "None"))
    try:
        creds = session.get_credentials()
    except Exception as exc:
        raise translate(exc, "reading credentials") or exc from None
    if creds is None:
        rows += [Setting(n, "<not set>", "None", "None") for n in ("access_key", "secret_key")]
    else:
        where = credential_location(creds.method, profile)
        rows.append(Setting("access_key", mask(creds.access_key), creds.method, where))
        rows.append(Setting("secret_key", mask(creds.secret_key), creds.method, where))
    rows.append(_setting_row(session, "region", ("AWS_DEFAULT_REGION",), profile))
    rows.append(_setting_row(session, "endpoint_url", ENDPOINT_VARIABLES, profile))
    return rows


def _setting_row(
    session: botocore.session.Session, name: str, env: tuple[str, ...], profile: str | None
) -> Setting:
    found = first_set(env)
    if found:
        return Setting(name, found[1], "env", found[0])
    value = session.get_scoped_config().get(name) if _profile_exists(session) else None
    if value:
        return Setting(name, str(value), "config-file", str(config_path()))
    return Setting(name, "<not set>", "None", "None")


def _profile_exists(session: botocore.session.Session) -> bool:
    from botocore.exceptions import ProfileNotFound

    try:
        session.get_scoped_config()
    except ProfileNotFound:
        return False
    return True


def format_settings(rows: list[Setting]) -> str:
    """The whitespace table of ``aws configure list`` (CLI v1 and v2 before 2.31)."""
    lines = [f"{'Name':>12} {'Value':>24} {'Type':>16}    Location"]
    lines.append(f"{'----':>12} {'-----':>24} {'----':>16}    --------")
    lines += [f"{r.name:>12} {r.value:>24} {r.type:>16}    {r.location}" for r in rows]
    return "\n".join(lines)
