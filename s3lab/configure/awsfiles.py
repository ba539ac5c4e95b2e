"""The ``~/.aws`` files: where they are, reading them as botocore does, editing them safely.

s3lab reads with botocore's own parser (``botocore.configloader``), so it sees exactly what boto3
and the aws command see. It writes by editing only the lines of one profile's section and leaving
every other byte alone (comments, other profiles, blank lines), then replacing the file
atomically with mode 0600. Keys are refused where ``git add .`` would pick them up.

``configure`` writes profiles and ``doctor`` inspects them; both stand on this module, which
stands on nothing in s3lab but the errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab.errors import ConfigError, broken_ini

if TYPE_CHECKING:
    import botocore.session

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

    Raises:
        ConfigError: the file is not a valid AWS ini file.
    """
    from botocore import configloader, exceptions

    if not path.is_file():
        return {}
    try:
        raw = configloader.raw_config_parse(str(path))
    except exceptions.ConfigParseError:
        raise broken_ini(str(path)) from None
    if config:
        return dict(configloader.build_profile_map(raw)["profiles"])
    return raw


def session_for(profile: str | None) -> botocore.session.Session:
    """A botocore session for ``profile`` (None: AWS_PROFILE or default), quick off EC2.

    botocore would otherwise wait seconds for the instance metadata service on a laptop. It
    shares the process's parsed service models (:func:`s3lab.clients.botocore_session`).
    """
    from s3lab import clients

    session = clients.botocore_session(profile=profile)
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


def mask(value: str | None) -> str:
    """A key as ``aws configure list`` shows it: sixteen stars and the last four characters."""
    if not value:
        return "<not set>"
    return "*" * 16 + value[-4:]


# --- editing ini files without touching other bytes ---------------------------------------------


def section_name(profile: str, *, config: bool) -> str:
    """``[name]`` in credentials; ``[default]`` or ``[profile name]`` in config, as aws does."""
    if not config or profile == "default":
        return profile
    return f"profile {profile}"


def services_section(name: str) -> str:
    """The config file's ``[services NAME]`` section, which a profile names with ``services``."""
    return f"services {name}"


def service_endpoints(
    endpoint_url: str, sts_endpoint_url: str
) -> dict[str, str | Mapping[str, str] | None]:
    """A ``[services]`` section's values: S3 to the store, STS to where STS is answered."""
    return {"s3": {"endpoint_url": endpoint_url}, "sts": {"endpoint_url": sts_endpoint_url}}


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
    """Refuse to put keys where ``git add .`` would pick them up and a push would publish them.

    Raises:
        ConfigError: ``path`` is inside a git work tree and ``force`` is not set.
    """
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
