"""What an install plan is made of, and where its downloads come from and whom they trust.

A plan is facts to show (URLs, the pinned fingerprint, folders), steps to run in order, and notes
for afterwards. :mod:`s3lab.install.tools` builds one per tool from these parts, and
:func:`s3lab.install.install` shows it and runs it. Trust comes only from the fingerprints
pinned here: a key fetched from anywhere adds none.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s3lab.errors import InstallError, NotInstalledError
from s3lab.install.download import (
    BACKOFF,
    RETRIES,
    TIMEOUT,
    Progress,
    download,
    normalize_fingerprint,
    pretty_fingerprint,
)
from s3lab.install.machine import Found, show_path
from s3lab.settings import read as read_settings

# --- facts (shared/reference/aws-facts.md sections 1 and 4) -------------------------------------

AWSCLI_URL = "https://awscli.amazonaws.com"
# The AWS docs print the key block; keyservers carry the same key. Where the key comes from does
# not matter for trust: the fingerprint below does.
AWSCLI_FINGERPRINT = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C"
AWSCLI_KEY_URL = (
    "https://keyserver.ubuntu.com/pks/lookup?op=get&options=mr&search=0x" + AWSCLI_FINGERPRINT
)
MOUNTPOINT_URL = "https://s3.amazonaws.com/mountpoint-s3-release"
MOUNTPOINT_FINGERPRINTS = (
    "8AEFE705EBE329C0948C75A66F1C3B3AEF4B030B",  # the current key
    "673FE4061506BB469A0EF857BE397A52B086DA5A",  # the older key, still seen on older releases
)


# --- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallSettings:
    """Where downloads come from and which keys are trusted; the real AWS values by default.

    Overridden by the ``S3LAB_*`` settings (`from_env`) or by passing an InstallSettings, so
    that tests can point everything at a local stand-in. A changed fingerprint is shown in
    every plan.
    """

    awscli_url: str = AWSCLI_URL
    awscli_key_url: str = AWSCLI_KEY_URL
    awscli_fingerprints: tuple[str, ...] = (AWSCLI_FINGERPRINT,)
    mountpoint_url: str = MOUNTPOINT_URL
    mountpoint_key_url: str = ""  # default: <mountpoint_url>/public_keys/KEYS
    mountpoint_fingerprints: tuple[str, ...] = MOUNTPOINT_FINGERPRINTS
    retries: int = RETRIES
    backoff: float = BACKOFF  # seconds before the first retry; doubles each time
    timeout: float = TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InstallSettings:
        """The defaults, overridden by the ``S3LAB_AWSCLI_*``, ``S3LAB_MOUNTPOINT_*`` settings.

        And by ``S3LAB_DOWNLOAD_*``; all are read by :func:`s3lab.settings.read`, the one
        place that reads them.
        """
        given = read_settings(env)
        default = cls()
        return cls(
            awscli_url=given.awscli_url or default.awscli_url,
            awscli_key_url=given.awscli_key_url or default.awscli_key_url,
            awscli_fingerprints=_normalized(given.awscli_fingerprints)
            or default.awscli_fingerprints,
            mountpoint_url=given.mountpoint_url or default.mountpoint_url,
            mountpoint_key_url=given.mountpoint_key_url or default.mountpoint_key_url,
            mountpoint_fingerprints=_normalized(given.mountpoint_fingerprints)
            or default.mountpoint_fingerprints,
            retries=default.retries if given.download_retries is None else given.download_retries,
            backoff=default.backoff if given.download_backoff is None else given.download_backoff,
            timeout=default.timeout if given.download_timeout is None else given.download_timeout,
        )

    def key_url(self, tool: str) -> str:
        """The URL of the public key (block) for a tool's signatures."""
        if tool == "awscli":
            return self.awscli_key_url
        return self.mountpoint_key_url or f"{self.mountpoint_url}/public_keys/KEYS"

    def fetch(self, url: str, dest: Path, progress: Progress) -> Path:
        """Download ``url`` to ``dest`` as patiently as these settings say."""
        return download(
            url,
            dest,
            retries=self.retries,
            backoff=self.backoff,
            timeout=self.timeout,
            progress=progress,
        )


def _normalized(fingerprints: Sequence[str]) -> tuple[str, ...]:
    return tuple(normalize_fingerprint(f) for f in fingerprints)


# --- plans --------------------------------------------------------------------------------------


@dataclass
class Step:
    """One thing the install does: what the plan says, and the code that does it."""

    text: str
    run: Callable[[Path, Progress], None]  # (the temporary folder, where to report)


@dataclass
class InstallPlan:
    """What an install will do, shown before doing it (and instead of it, with --dry-run)."""

    tool: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed after success (PATH advice...)
    done: str = ""  # when set, nothing to do: "already installed, version X"
    replaces: str = ""  # with --update: the version installed now

    def render(self) -> str:
        """The plan as text: facts, then numbered steps."""
        width = max((len(k) for k, _ in self.facts), default=0) + 1
        lines = [f"{key + ':':{width}} {value}" for key, value in self.facts]
        if self.done:
            lines.append(self.done)
        else:
            lines.append("steps:")
            lines += [f"  {n}. {step.text}" for n, step in enumerate(self.steps, 1)]
        return "\n".join(lines)


def run_command(command: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> str:
    """Run a step's command; on failure raise with its last lines, which say why.

    Raises:
        InstallError: the command failed.
        NotInstalledError: its program is not installed.
    """
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError as exc:
        raise NotInstalledError(
            f"{what}: {command[0]} not found", "see `s3lab install --help`"
        ) from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise InstallError(
            f"{what} failed (exit {done.returncode}): {tail}",
            "read the message above; run the same command again after fixing it",
        )
    return done.stdout


def fingerprint_fact(fprs: Sequence[str], pinned: Sequence[str], variable: str) -> str:
    """The fingerprints a plan shows, flagged loudly when a setting changed the pinned ones."""
    text = " or ".join(pretty_fingerprint(f) for f in fprs)
    if {normalize_fingerprint(f) for f in fprs} != {normalize_fingerprint(f) for f in pinned}:
        text += f" (CHANGED by {variable}: not the AWS key)"
    return text


def already_installed(found: Found, home: Path) -> str:
    """Why a downloaded tool needs no download: the same words for the AWS CLI and Mountpoint."""
    return (
        f"already installed, version {found.version} at {show_path(found.path, home)}"
        " (nothing to download; add --update to fetch the latest)"
    )
