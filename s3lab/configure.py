"""AWS profiles the real ``aws`` command reads, and ``doctor``, which finds why a set-up fails.

Three traps stop learners: a region typo (``uswest-2``) that only says "Could not connect", a key
that stopped working, and keys committed to GitHub. This module writes ``~/.aws/credentials`` and
``~/.aws/config`` the way ``aws configure`` does, refuses the traps before anything is written,
and ``doctor`` names the cause of a failure with its fix.

Reading uses botocore's own parser (``botocore.configloader``), so s3lab sees exactly what boto3
and the aws command see. Writing edits only the lines of one profile's section and leaves every
other byte alone (comments, other profiles, blank lines), then replaces the file atomically.
"""

from __future__ import annotations

import contextlib
import difflib
import email.utils
import functools
import getpass
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from s3lab.errors import ConfigError, S3LabError, UsageError, from_boto

KOPAH_ENDPOINT = "https://s3.kopah.uw.edu"
SANDBOX_PROFILE = "s3lab-sandbox"
OUTPUTS = ("json", "text", "table", "yaml", "yaml-stream")
KEY_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")

# Ceph (Kopah) answers virtual-host requests only for some set-ups, and rejects the CRC
# checksums that aws CLI >= 2.23 / boto3 >= 1.36 send by default.
KOPAH_SETTINGS: dict[str, str | dict[str, str]] = {
    "endpoint_url": KOPAH_ENDPOINT,
    "s3": {"addressing_style": "path"},
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}

# The first aws CLI releases that read `endpoint_url` from a profile.
ENDPOINT_URL_SINCE = {1: (1, 29, 0), 2: (2, 13, 0)}

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.@+=,-]+$")
_HEADER = re.compile(r"^\s*\[([^\]]*)\]")
_KEY_LINE = re.compile(r"^([^\s=:#;][^=:]*?)\s*[=:]")


# --- where the files are --------------------------------------------------------------------------


def config_path() -> Path:
    """The config file the aws command reads: ``$AWS_CONFIG_FILE`` or ``~/.aws/config``."""
    return Path(
        os.path.expandvars(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")
    ).expanduser()


def credentials_path() -> Path:
    """The credentials file: ``$AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``."""
    raw = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return Path(os.path.expandvars(raw)).expanduser()


def read_profiles(path: Path, *, config: bool) -> dict[str, dict[str, Any]]:
    """Profiles in one file, parsed by botocore exactly as boto3 and the aws command parse it.

    The credentials file names sections ``[name]``; the config file ``[profile name]`` (and
    ``[default]``). botocore's ``build_profile_map`` knows the config dialect; for the
    credentials file every section is a profile.
    """
    from botocore import configloader, exceptions

    if not path.is_file():
        return {}
    try:
        raw = configloader.raw_config_parse(str(path))
    except exceptions.ConfigParseError as exc:
        raise ConfigError(
            f"{path} is not a valid AWS ini file: {exc}",
            "open it in an editor and fix the line named above (each section starts with [name])",
        ) from None
    if config:
        return dict(configloader.build_profile_map(raw)["profiles"])
    return raw


# --- checking what people type ------------------------------------------------------------------


def mask(value: str | None) -> str:
    """A key as ``aws configure list`` shows it: sixteen stars and the last four characters."""
    if not value:
        return "<not set>"
    return "*" * 16 + value[-4:]


def check_profile_name(name: str) -> str:
    """A profile name the aws command can address with ``--profile`` (no spaces, no brackets)."""
    if not name or not _PROFILE_NAME.match(name):
        raise UsageError(
            f"{name!r} is not a usable profile name",
            "use letters, digits and - _ . only, e.g. --profile kopah",
        )
    return name


def _check_plain(value: str, what: str, flag: str) -> str:
    if not value or any(ch.isspace() for ch in value) or not value.isprintable():
        raise UsageError(
            f"the {what} is empty or contains spaces or line breaks",
            f"paste it again without spaces or quotes: {flag}",
        )
    return value


def check_access_key_id(value: str) -> str:
    """Refuse what cannot be an access key id, and catch the swapped key/secret mistake."""
    _check_plain(value, "access key id", "--access-key-id")
    if len(value) >= 30 or "/" in value or "+" in value:
        raise UsageError(
            "that looks like a secret access key, not an access key id",
            "the id is the short one (20 characters, e.g. AKIA...); the secret is the long one",
        )
    return value


def check_secret(value: str) -> str:
    """Refuse what cannot be a secret key; the swapped-fields mistake gets its own message."""
    _check_plain(value, "secret access key", "--secret-access-key -  (then paste it)")
    if re.fullmatch(r"(AKIA|ASIA)[A-Z0-9]{16}", value):
        raise UsageError(
            "that looks like an access key id, not a secret access key",
            "the secret is the long one (40 characters) shown once when the key was made",
        )
    return value


def check_output(value: str) -> str:
    """One of the aws command's output formats."""
    if value in OUTPUTS:
        return value
    close = difflib.get_close_matches(value.lower(), OUTPUTS, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UsageError(f"{value!r} is not an output format", f"{hint}use one of {', '.join(OUTPUTS)}")


def check_endpoint_url(value: str) -> str:
    """An http(s) URL with a host; a bare host name gets "did you mean https://..."."""
    parts = urlsplit(value.strip())
    if parts.scheme in ("http", "https") and parts.hostname and value == value.strip():
        return value.rstrip("/")
    guess = "https://" + value.strip().split("://")[-1].rstrip("/")
    raise UsageError(
        f"{value!r} is not an endpoint URL",
        f"did you mean {guess}? An endpoint starts with https:// (or http:// for a local server)",
    )


# --- regions, from botocore's own data (no network) ---------------------------------------------


@dataclass(frozen=True)
class RegionData:
    """What botocore knows about regions: names, descriptions and each partition's pattern."""

    regions: tuple[str, ...]
    descriptions: dict[str, str]
    patterns: tuple[re.Pattern[str], ...]
    directions: frozenset[str]
    botocore_version: str


@functools.lru_cache(maxsize=1)
def region_data() -> RegionData:
    """Load regions from botocore's endpoints and partitions files (installed, offline).

    The pseudo-regions (``aws-global``, ``aws-cn-global``...) are not regions a person sets.
    """
    import boto3
    import botocore
    import botocore.session
    from botocore.loaders import create_loader

    # Offline data only: the learner's own config (maybe the broken file) plays no part.
    quiet = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    session = boto3.session.Session(region_name="us-east-1", botocore_session=quiet)
    regions: list[str] = []
    for partition in session.get_available_partitions():
        regions += [
            r
            for r in session.get_available_regions("s3", partition_name=partition)
            if not r.endswith("-global")
        ]
    partitions = create_loader().load_data("partitions")["partitions"]
    descriptions = {}
    patterns = []
    for partition in partitions:
        patterns.append(re.compile(partition["regionRegex"]))
        for name, info in partition.get("regions", {}).items():
            if not name.endswith("-global"):
                descriptions[name] = info.get("description", "")
                if name not in regions:
                    regions.append(name)
    # The middle word of a region (us-WEST-2): a new region reuses one of these, a typo does not.
    directions = frozenset(r.split("-")[-2] for r in regions)
    return RegionData(
        tuple(sorted(regions)), descriptions, tuple(patterns), directions, botocore.__version__
    )


def suggest_regions(value: str, n: int = 3) -> list[str]:
    """Known regions close to ``value``: typos, an availability zone, or a city name."""
    data = region_data()
    text = value.strip().lower().replace("_", "-")
    text = re.sub(r"-[li|]$", "-1", re.sub(r"-o$", "-0", text))  # us-east-l: a letter for 1
    if text in data.regions:
        return [text]
    zone = re.fullmatch(r"(.+-\d+)[a-z]", text)  # us-west-2a is a zone of us-west-2
    if zone and zone.group(1) in data.regions:
        return [zone.group(1)]
    by_place = [r for r, d in data.descriptions.items() if len(text) > 3 and text in d.lower()]
    close = difflib.get_close_matches(text, data.regions, n=n, cutoff=0.6)
    return list(dict.fromkeys(by_place + close))[:n]


@dataclass
class RegionCheck:
    """The verdict on a region name: usable or not, with a note or a suggestion."""

    region: str
    ok: bool
    note: str = ""
    suggestions: list[str] = field(default_factory=list)


def check_region(value: str) -> RegionCheck:
    """Is ``value`` a region? Known to botocore, or shaped like a newer one.

    Known to botocore: yes. Matching a partition's pattern with a direction word that regions
    use (``ap-southeast-9``): yes, with a note, since botocore may just be older than the
    region. Anything else: no, with the closest regions.
    """
    data = region_data()
    if value in data.regions:
        return RegionCheck(value, True)
    parts = value.split("-")
    if (
        any(p.match(value) for p in data.patterns)
        and len(parts) >= 3
        and parts[-2] in data.directions
    ):
        note = (
            f"{value} is not in this botocore's list ({data.botocore_version}); accepted because "
            "it has the shape of a region. If it is new, update boto3 to know it by name"
        )
        return RegionCheck(value, True, note)
    return RegionCheck(value, False, suggestions=suggest_regions(value))


def require_region(value: str) -> str:
    """Return the region, or raise UsageError with "did you mean ...?"."""
    verdict = check_region(value)
    if verdict.ok:
        return value
    raise region_error(verdict)


def region_error(verdict: RegionCheck) -> UsageError:
    """The one-line error for a region that is not one, with the closest as the fix."""
    if verdict.suggestions:
        best = verdict.suggestions[0]
        others = ", ".join(verdict.suggestions[1:])
        hint = f"did you mean {best}?" + (f" (or {others})" if others else "")
        hint += f" Run: s3lab configure --region {best}"
    else:
        hint = "regions look like us-west-2 or eu-central-1: `aws ec2 describe-regions` lists them"
    return UsageError(f"{verdict.region!r} is not an AWS region", hint)


# --- editing ini files without touching other bytes ---------------------------------------------


def section_name(profile: str, *, config: bool) -> str:
    """``[name]`` in credentials; ``[default]`` or ``[profile name]`` in config, as aws does."""
    if not config or profile == "default":
        return profile
    return f"profile {profile}"


def _section_span(lines: list[str], section: str) -> tuple[int, int] | None:
    """First and one-past-last line index of ``[section]`` (header included), or None."""
    wanted = " ".join(section.split())
    start = None
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if not header:
            continue
        if start is not None:
            return start, index
        if " ".join(header.group(1).split()) == wanted:
            start = index
    return (start, len(lines)) if start is not None else None


def _render(key: str, value: str | Mapping[str, str]) -> list[str]:
    if isinstance(value, Mapping):
        return [f"{key} =\n"] + [f"    {k} = {v}\n" for k, v in value.items()]
    return [f"{key} = {value}\n"]


def set_values(
    text: str, section: str, values: Mapping[str, str | Mapping[str, str] | None]
) -> str:
    """Return ``text`` with ``values`` set in ``[section]``; every other line is kept as it is.

    A value of None removes the key. A mapping is a nested block (``s3 =`` and indented
    ``addressing_style = path``), merged with the block already there. A missing section is
    appended at the end, as ``aws configure`` does.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    span = _section_span(lines, section)
    if span is None:
        new = [f"[{section}]\n"]
        for key, value in values.items():
            if value is not None:
                new += _render(key, value)
        if len(new) == 1:
            return text
        if lines and lines[-1].strip():
            new.insert(0, "\n")
        return "".join(lines + new)
    start, end = span
    body = lines[start + 1 : end]
    for key, value in values.items():
        found = None
        for index, line in enumerate(body):
            match = _KEY_LINE.match(line)
            if match and match.group(1).strip().lower() == key.lower():
                found = index
                break
        old_nested: dict[str, str] = {}
        stop = found
        if found is not None:
            stop = found + 1
            while stop < len(body) and body[stop][:1] in (" ", "\t") and body[stop].strip():
                nested = _KEY_LINE.match(body[stop].strip() + "\n")
                if nested:
                    old_nested[nested.group(1).strip()] = body[stop].split("=", 1)[-1].strip()
                stop += 1
        if value is None:
            rendered: list[str] = []
        elif isinstance(value, Mapping):
            rendered = _render(key, {**old_nested, **value})
        else:
            rendered = _render(key, value)
        if found is not None:
            body[found:stop] = rendered
        elif rendered:
            last = len(body)
            while last > 0 and not body[last - 1].strip():
                last -= 1
            body[last:last] = rendered
    return "".join(lines[: start + 1] + body + lines[end:])


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600: a temp file, then ``os.replace``.

    A crash or a full disk leaves the old file whole, never half a file. A symlinked file is
    written through to its target, so a dotfiles set-up keeps its link.
    """
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temp).chmod(0o600)
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- safety: git work trees and file modes ------------------------------------------------------


def git_work_tree(path: Path) -> Path | None:
    """The top of the git work tree that would hold ``path``, or None.

    Walks up looking for ``.git`` (works without git installed), then asks git itself, which
    also knows about ``GIT_DIR`` and worktrees.
    """
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    git = shutil.which("git")
    if git:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = subprocess.run(
                [git, "rev-parse", "--show-toplevel"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if result.returncode == 0 and result.stdout.strip():
                return Path(result.stdout.strip())
    return None


def guard_git(path: Path, *, force: bool = False) -> None:
    """Refuse to put keys where ``git add .`` would pick them up and a push would publish them."""
    top = git_work_tree(path)
    if top is not None and not force:
        raise ConfigError(
            f"refusing to write keys to {path}: it is inside the git work tree {top}, and a "
            "commit would publish them",
            "keep keys in ~/.aws/credentials (unset AWS_SHARED_CREDENTIALS_FILE), or add --force "
            "if this repository is private and ignores the file",
        )


def too_open(path: Path) -> bool:
    """True when a file exists and others than its owner may read or write it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def fix_permissions(paths: Iterable[Path] | None = None) -> list[Path]:
    """Make private (0600) the AWS files that others can read; returns the files it changed."""
    changed = []
    for path in paths or (credentials_path(), config_path()):
        if too_open(path):
            path.chmod(0o600)
            changed.append(path)
    return changed


# --- configure ----------------------------------------------------------------------------------


@dataclass
class Written:
    """What ``configure`` changed, to print or to check; never holds a secret."""

    profile: str
    credentials: Path | None
    config: Path | None
    access_key: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The lines the CLI prints."""
        lines = [f"profile {self.profile!r}:"]
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
) -> Written:
    """Write one profile like ``aws configure`` does: keys to credentials, the rest to config.

    Everything is checked before anything is written, so a refused value leaves both files
    byte for byte as they were. A new access key without a session token removes an old
    token from the profile: a stale token with a new key is rejected by AWS.
    """
    check_profile_name(profile)
    if (access_key_id is None) != (secret_access_key is None):
        raise UsageError(
            "an access key id and its secret go together",
            "give both --access-key-id and --secret-access-key (- reads the secret from stdin)",
        )
    keys: dict[str, str | Mapping[str, str] | None] = {}
    if access_key_id is not None and secret_access_key is not None:
        keys = {
            "aws_access_key_id": check_access_key_id(access_key_id),
            "aws_secret_access_key": check_secret(secret_access_key),
            "aws_session_token": _check_plain(session_token, "session token", "--session-token")
            if session_token
            else None,
        }
    elif session_token:
        raise UsageError(
            "a session token needs its key", "add --access-key-id and --secret-access-key"
        )
    notes: list[str] = []
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
        plans.append((conf_file, set_values(old, section_name(profile, config=True), options)))
    for path, text in plans:
        write_private(path, text)
    return Written(
        profile,
        creds_file if keys else None,
        conf_file if options else None,
        access_key_id or "",
        notes,
    )


def configure_kopah(
    profile: str = "kopah",
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    force: bool = False,
) -> Written:
    """A profile for UW's Kopah (Ceph): its endpoint, path-style, and checksums when required."""
    current = read_profiles(config_path(), config=True).get(profile, {})
    return configure(
        profile,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region or (None if current.get("region") else "us-east-1"),
        settings=KOPAH_SETTINGS,
        force=force,
    )


def configure_sandbox(
    backend: str | None = None, *, profile: str = SANDBOX_PROFILE, force: bool = False
) -> Written:
    """A profile for a running sandbox, so plain ``aws --profile s3lab-sandbox s3 ls`` works.

    The port changes when the sandbox restarts: run this again after ``s3lab sandbox start``.
    """
    from s3lab import sandbox

    box = sandbox.pick(backend)
    return configure(
        profile,
        access_key_id=sandbox.FAKE_ACCESS_KEY_ID,
        secret_access_key=sandbox.FAKE_SECRET_ACCESS_KEY,
        region=sandbox.REGION,
        endpoint_url=box.endpoint_url,
        settings={"s3": {"addressing_style": "path"}},
        force=force,
    )


def prompt_values(
    profile: str,
    ask: Callable[[str], str] | None = None,
    ask_secret: Callable[[str], str] | None = None,
) -> dict[str, str | None]:
    r"""Ask like ``aws configure``: four questions; Enter keeps the value shown in brackets.

    The secret is read with getpass (never echoed) when a terminal is attached; piped input
    (``printf 'AKIA...\nsecret\nus-west-2\njson\n' | s3lab configure``) works too.
    """
    ask = ask or _ask
    ask_secret = ask_secret or (getpass.getpass if sys.stdin.isatty() else _ask)
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


def _ask(prompt: str) -> str:
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        print(file=sys.stderr)  # end the prompt's line, so the error is a line of its own
        raise UsageError("input ended before every question was answered", "answer all four")
    return line.rstrip("\n")


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


def _session(profile: str | None) -> Any:
    import botocore.session

    session = botocore.session.Session(profile=profile)
    # Keep doctor fast off EC2: one short try at the instance metadata service.
    session.set_config_variable("metadata_service_timeout", 1)
    session.set_config_variable("metadata_service_num_attempts", 1)
    return session


def credential_location(method: str, profile: str | None) -> str:
    """Where credentials of a botocore provider ``method`` come from, for a person to look."""
    name = profile or os.environ.get("AWS_PROFILE") or "default"
    return {
        "env": "AWS_ACCESS_KEY_ID (environment)",
        "shared-credentials-file": f"{credentials_path()} [{name}]",
        "config-file": f"{config_path()} [{section_name(name, config=True)}]",
        "iam-role": "instance metadata (the EC2 instance profile's role)",
        "container-role": "the container's task role (ECS/EKS)",
        "assume-role": f"a role assumed from {config_path()} [{section_name(name, config=True)}]",
        "sso": "AWS IAM Identity Center (SSO) cache",
    }.get(method, method)


def list_settings(profile: str | None = None) -> list[Setting]:
    """The facts ``aws configure list`` shows (keys masked), plus the endpoint."""
    session = _session(profile)
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
        raise _explain(exc, "reading credentials") from None
    if creds is None:
        rows += [Setting(n, "<not set>", "None", "None") for n in ("access_key", "secret_key")]
    else:
        where = credential_location(creds.method, profile)
        rows.append(Setting("access_key", mask(creds.access_key), creds.method, where))
        rows.append(Setting("secret_key", mask(creds.secret_key), creds.method, where))
    rows.append(_setting_row(session, "region", ("AWS_DEFAULT_REGION",), profile))
    rows.append(
        _setting_row(session, "endpoint_url", ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"), profile)
    )
    return rows


def _setting_row(session: Any, name: str, env: tuple[str, ...], profile: str | None) -> Setting:
    for variable in env:
        if os.environ.get(variable):
            return Setting(name, os.environ[variable], "env", variable)
    value = session.get_scoped_config().get(name) if _profile_exists(session) else None
    if value:
        return Setting(name, str(value), "config-file", str(config_path()))
    return Setting(name, "<not set>", "None", "None")


def _profile_exists(session: Any) -> bool:
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


def _explain(exc: BaseException, doing: str) -> S3LabError:
    translated = from_boto(exc, doing)
    if translated is not None:
        return translated
    return ConfigError(f"{doing}: {type(exc).__name__}: {exc}", "run `s3lab doctor` to see why")


# --- doctor -------------------------------------------------------------------------------------


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
    session: Any = None
    credentials: Any = None
    region: str | None = None
    region_ok: bool = False
    endpoint: str = ""
    reachable: bool = False
    accepted: bool = False
    server_date: str | None = None
    notes: list[str] = field(default_factory=list)


def _timeouts() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1})


def _client(ctx: Context, service: str) -> Any:
    return ctx.session.create_client(
        service, region_name=ctx.region or "us-east-1", config=_timeouts()
    )


def _remember_date(ctx: Context, response: Mapping[str, Any]) -> None:
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        ctx.server_date = date


def parse_cli_version(text: str) -> tuple[int, int, int] | None:
    """``aws --version`` to (major, minor, patch); only the leading ``aws-cli/X.Y.Z`` counts."""
    match = re.match(r"^aws-cli/(\d+)\.(\d+)\.(\d+)", text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


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
    version = parse_cli_version(result.stdout or result.stderr)
    if version is None:
        return Check(
            name,
            "FAIL",
            f"{aws} --version printed no aws-cli/X.Y.Z",
            "reinstall it: `s3lab install awscli`",
        )
    shown = ".".join(map(str, version))
    minimum = ENDPOINT_URL_SINCE.get(version[0])
    if minimum is None or version < minimum:
        need = ".".join(map(str, minimum or ENDPOINT_URL_SINCE[2]))
        return Check(
            name,
            "FAIL",
            f"aws-cli {shown} is too old to read endpoint_url from a profile (needs {need})",
            "update it: `s3lab install awscli`",
        )
    return Check(name, "ok", f"aws-cli {shown} (v{version[0]})")


def check_region_set(ctx: Context) -> Check:
    """A region is set and is one (botocore's list), or has the shape of a newer one."""
    name = "region"
    try:
        ctx.region = ctx.session.get_config_variable("region")
    except Exception as exc:
        return Check(
            name, "FAIL", str(_explain(exc, "reading the profile").message), _explain(exc, "").hint
        )
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
        ctx.credentials = ctx.session.get_credentials()
    except Exception as exc:
        error = _explain(exc, "reading credentials")
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
        ctx.endpoint = _client(ctx, "s3").meta.endpoint_url
    except Exception as exc:
        error = _explain(exc, "building an S3 client")
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


# STS answers that mean "no STS here" rather than "bad credentials" (SeaweedFS, some Ceph).
_NO_STS_STATUS = {400, 403, 404, 405, 501, 503}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "RequestTimeTooSkewed",
}


def check_identity(ctx: Context) -> Check:
    """The service accepts the key: STS GetCallerIdentity, or a signed ListBuckets without STS."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "credentials accepted"
    if ctx.credentials is None or not ctx.reachable:
        return Check(name, "skip", "needs credentials and a reachable endpoint (see above)")
    try:
        answer = _client(ctx, "sts").get_caller_identity()
        _remember_date(ctx, answer)
        ctx.accepted = True
        return Check(name, "ok", f"{answer.get('Arn')} (sts get-caller-identity)")
    except ClientError as exc:
        _remember_date(ctx, exc.response)
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _CREDENTIAL_CODES:
            return _rejected(name, exc)
        if code and status not in _NO_STS_STATUS:
            return _rejected(name, exc)
    except BotoCoreError:
        pass
    try:
        answer = _client(ctx, "s3").list_buckets()
        _remember_date(ctx, answer)
    except ClientError as exc:
        _remember_date(ctx, exc.response)
        return _rejected(name, exc, " (a signed S3 ListBuckets: this endpoint has no STS)")
    except BotoCoreError as exc:
        error = _explain(exc, "signed S3 ListBuckets")
        return Check(name, "FAIL", error.message, error.hint)
    ctx.accepted = True
    return Check(name, "ok", "a signed S3 ListBuckets was accepted (this endpoint has no STS)")


def _rejected(name: str, exc: Exception, how: str = "") -> Check:
    error = _explain(exc, "")
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    hint = error.hint
    if code in (
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    ):
        hint = "regenerate the key in the console, then `s3lab configure`"
    return Check(name, "FAIL", f"{error.message.lstrip(': ')}{how}", hint)


def check_list(ctx: Context) -> Check:
    """ListBuckets works: the call every ``aws s3 ls`` starts with."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "S3 list works"
    if not ctx.accepted:
        return Check(name, "skip", "needs credentials the service accepts (see above)")
    try:
        answer = _client(ctx, "s3").list_buckets()
    except ClientError as exc:
        _remember_date(ctx, exc.response)
        return _rejected(name, exc)
    except BotoCoreError as exc:
        error = _explain(exc, "ListBuckets")
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


MAX_SKEW_SECONDS = 300


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
        ctx.session = _session(profile)
        ctx.session.get_scoped_config()
    except Exception as exc:
        error = _explain(exc, "reading the AWS profile")
        return Report([Check("profile", "FAIL", error.message, error.hint)])
    return Report([check(ctx) for check in CHECKS])
