"""s3lab install: real downloads, real gpgv, the real installer script, against local stand-ins.

Every artifact (zip, .deb, signing keys) is made at test time by tests/standins and served from
127.0.0.1; nothing comes from the internet. The plans of the real AWS URLs are only printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3lab import install
from s3lab.errors import InstallError, UsageError
from s3lab.install import download, machine
from s3lab.install import tools as install_tools
from s3lab.install.download import Progress
from s3lab.install.machine import System
from s3lab.install.plans import InstallSettings
from tests.standins.install_artifacts import (
    Signer,
    StandinServer,
    awscli_source,
    awscli_zip,
    mountpoint_deb,
)
from tests.support import ROOT, assert_one_line_error, cli, run_cli, unavailable

AWS_FPR = "FB5D B77F D5C1 18B8 0511 ADA8 A631 0ACC 4672 475C"
ZIP = "/awscli/awscli-exe-linux-x86_64.zip"
KEY = "/keys/awscli.asc"

if shutil.which("gpg") is None:  # tasks.sh installs it; say so rather than fail obscurely
    pytest.skip(
        "gpg is needed to make test keys: bash tasks.sh setup installs it", allow_module_level=True
    )


@pytest.fixture(scope="module")
def signer() -> Iterator[Signer]:
    key = Signer("AWS CLI Team stand-in")
    yield key
    key.close()


@pytest.fixture(scope="module")
def stranger() -> Iterator[Signer]:
    """A valid key that is not the pinned one: what an attacker would sign with."""
    key = Signer("someone else")
    yield key
    key.close()


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    server = StandinServer()
    yield server
    server.close()


def publish_awscli(
    server: StandinServer, signer: Signer, version: str = "2.0.1", signed_by: Signer | None = None
) -> bytes:
    """Serve a stand-in AWS CLI zip, its .sig and the public key, like awscli.amazonaws.com."""
    data = awscli_zip(version)
    server.files[ZIP] = data
    server.files[ZIP + ".sig"] = (signed_by or signer).sign(data)
    server.files[KEY] = signer.public_key
    return data


def settings_for(server: StandinServer, signer: Signer) -> InstallSettings:
    return InstallSettings(
        awscli_url=f"{server.url}/awscli",
        awscli_key_url=f"{server.url}{KEY}",
        awscli_fingerprints=(signer.fingerprint,),
        mountpoint_url=f"{server.url}/mountpoint",
        mountpoint_fingerprints=(signer.fingerprint,),
        retries=2,
        backoff=0.01,
    )


def env_for(server: StandinServer, signer: Signer, tmp: Path) -> dict[str, str]:
    """The same settings as environment variables, for the real command."""
    return {
        "S3LAB_AWSCLI_URL": f"{server.url}/awscli",
        "S3LAB_AWSCLI_KEY_URL": f"{server.url}{KEY}",
        "S3LAB_AWSCLI_FINGERPRINT": signer.fingerprint,
        "S3LAB_DOWNLOAD_RETRIES": "2",
        "S3LAB_DOWNLOAD_BACKOFF": "0.01",
        "TMPDIR": str(tmp),
    }


def cli_in_tmp(tmp: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``s3lab ARGS`` in this process, its temporary folders inside ``tmp`` (as TMPDIR would).

    Python reads TMPDIR once per process, so the in-process run sets tempfile's folder itself.
    """
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp)
    try:
        return cli(*args, env=env)
    finally:
        tempfile.tempdir = saved


def run_install_command(
    server: StandinServer, signer: Signer, tmp: Path
) -> subprocess.CompletedProcess[str]:
    """`s3lab install awscli` against the stand-in, its folders inside ``tmp``."""
    return cli_in_tmp(
        tmp,
        "install",
        "awscli",
        "--install-dir",
        str(tmp / "i"),
        "--bin-dir",
        str(tmp / "b"),
        env=env_for(server, signer, tmp),
    )


def aws_version(exe: Path) -> str:
    return subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, check=True
    ).stdout


def root_system(home: Path) -> System:
    return System("linux", "x86_64", root=True, home=home, package_manager="apt")


def install_as_root(settings: InstallSettings, tmp_path: Path) -> install.Result:
    """Install the stand-in AWS CLI as root, every folder inside ``tmp_path``."""
    return install.install(
        "awscli",
        settings=settings,
        system=root_system(tmp_path),
        install_dir=tmp_path / "aws-cli",
        bin_dir=tmp_path / "bin",
        work_root=tmp_path,
    )


# --- the plan of the real thing -----------------------------------------------------------------


@pytest.mark.parametrize("order", ["dry-run first", "tool first"])
def test_dry_run_prints_the_real_aws_urls_and_fingerprint(order: str) -> None:
    # --update: the whole plan even where set-up's v2 is the aws on PATH
    args = (
        ["install", "--dry-run", "awscli", "--update"]
        if order == "dry-run first"
        else ["install", "awscli", "--dry-run", "--update"]
    )
    clean = {k: "" for k in os.environ if k.startswith(("S3LAB_AWSCLI", "S3LAB_MOUNTPOINT"))}
    result = cli(*args, env=clean)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip" in out
    assert "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip.sig" in out
    assert f"fingerprint: {AWS_FPR}" in out
    assert "CHANGED" not in out
    if os.geteuid() == 0:
        assert "--install-dir /usr/local/aws-cli --bin-dir /usr/local/bin" in out


def test_dry_run_for_aarch64_names_the_aarch64_zip() -> None:
    result = cli("install", "awscli", "--dry-run", "--arch", "arm64")
    assert result.returncode == 0, result.stderr
    assert "https://awscli.amazonaws.com/awscli-exe-linux-aarch64.zip" in result.stdout


def test_non_root_plan_uses_home_folders_and_no_sudo(tmp_path: Path) -> None:
    system = System("linux", "x86_64", root=False, home=tmp_path, package_manager="apt")
    text = install.plan("awscli", system=system, settings=InstallSettings(), update=True).render()
    assert "aws/install --install-dir ~/.local/aws-cli --bin-dir ~/.local/bin" in text
    assert "sudo " not in text.replace("no sudo", "")
    assert install_tools.awscli_dirs(system) == (
        tmp_path / ".local/aws-cli",
        tmp_path / ".local/bin",
    )
    assert install_tools.awscli_dirs(root_system(tmp_path)) == (
        Path("/usr/local/aws-cli"),
        Path("/usr/local/bin"),
    )


def test_a_changed_fingerprint_is_shown_in_the_plan(tmp_path: Path) -> None:
    settings = InstallSettings(awscli_fingerprints=("AAAA" * 10,))
    text = install.plan("awscli", system=root_system(tmp_path), settings=settings).render()
    assert "CHANGED by S3LAB_AWSCLI_FINGERPRINT" in text


def test_unknown_architecture_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli("install", "awscli", "--arch", "riscv64")
    assert_one_line_error(result, "riscv64", "x86_64 and aarch64")
    monkeypatch.setattr(machine.platform, "machine", lambda: "ppc64le")
    with pytest.raises(UsageError, match="ppc64le"):
        machine.detect()


def test_aws_version_parsing_reads_only_the_leading_version() -> None:
    assert machine.parse_aws_version(
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.ubuntu.24"
    ) == ("2.15.30", 2)
    assert machine.parse_aws_version(
        "aws-cli/1.18.69 Python/2.7.18 Linux/5.4 botocore/1.16.19"
    ) == ("1.18.69", 1)
    assert machine.parse_aws_version("aws-cli/2.0.0dev0 Python/3.8") == ("2.0.0", 2)
    assert machine.parse_aws_version("aws-cli/2.x") is None
    assert machine.parse_aws_version("command not found") is None


# --- the AWS CLI from stand-ins -----------------------------------------------------------------


def test_fresh_install_as_root_then_second_run_downloads_nothing(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    publish_awscli(standin, signer, "2.0.1")
    env = env_for(standin, signer, tmp_path)
    target = ["--install-dir", str(tmp_path / "aws-cli"), "--bin-dir", str(tmp_path / "bin")]

    first = run_cli("install", "awscli", *target, env=env)  # end to end: the real command
    assert first.returncode == 0, first.stderr
    assert ("root: system folders" if os.geteuid() == 0 else "not root") in first.stdout
    assert "installed: awscli 2.0.1" in first.stdout
    assert "awscli-exe-linux-x86_64.zip" in first.stderr  # the progress bar
    assert aws_version(tmp_path / "bin/aws").startswith("aws-cli/2.0.1 ")
    assert (tmp_path / "aws-cli/v2/current").readlink() == tmp_path / "aws-cli/v2/2.0.1"
    assert list(tmp_path.glob("s3lab-install-*")) == []  # the work folder is gone

    asked = len(standin.requests)
    again = cli("install", "awscli", *target, env=env)
    assert again.returncode == 0, again.stderr
    assert "already installed, version 2.0.1" in again.stdout
    assert len(standin.requests) == asked  # nothing downloaded


@pytest.fixture
def nobody_python() -> Iterator[tuple[list[str], str] | None]:
    """A Python the user `nobody` can run s3lab with, or None when this is not root.

    The clone and its .venv may sit in a folder only root can enter (``mktemp -d`` makes them
    0700), so s3lab and the libraries ``s3lab install`` imports (tqdm; lazy_loader and psutil,
    which every ``import s3lab`` needs) are copied to a folder nobody can read, for the length
    of the test.
    """
    if os.geteuid() != 0 or not shutil.which("runuser"):
        yield None
        return
    import lazy_loader
    import psutil
    import tqdm

    stage = Path(tempfile.mkdtemp(prefix="s3lab-nobody-lib-"))
    try:
        stage.chmod(0o755)
        libraries = (tqdm, lazy_loader, psutil)
        for package in (ROOT / "s3lab", *(Path(lib.__file__).parent for lib in libraries)):
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(package, stage / package.name, ignore=ignore)
        env = ["env", f"PYTHONPATH={stage}"]
        for python in (sys.executable, "/usr/bin/python3"):
            probe = subprocess.run(
                [
                    "runuser",
                    "-u",
                    "nobody",
                    "--",
                    *env,
                    python,
                    "-c",
                    "import sys, s3lab.cli, s3lab.install;"
                    f" assert sys.version_info[:2] == {sys.version_info[:2]!r}",
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
            if probe.returncode == 0:
                yield env, python
                return
        yield None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def test_fresh_install_as_a_user_without_root_or_sudo(
    standin: StandinServer, signer: Signer, nobody_python: tuple[list[str], str] | None
) -> None:
    found = nobody_python
    if found is None:
        unavailable(
            "needs root (to switch to the user `nobody`) and a Python nobody can run with s3lab",
            "the install as a user without root",
        )
    env, python = found
    publish_awscli(standin, signer, "2.0.1")
    home = Path(tempfile.mkdtemp(prefix="s3lab-nobody-"))
    try:
        home.chmod(0o755)
        os.chown(home, 65534, 65534)
        settings = env_for(standin, signer, home)
        del settings["TMPDIR"]
        variables = [f"{k}={v}" for k, v in settings.items()]
        command = [
            "runuser",
            "-u",
            "nobody",
            "--",
            *env,
            f"HOME={home}",
            "PATH=/usr/bin:/bin",
            *variables,
            python,
            "-m",
            "s3lab.cli",
            "install",
            "awscli",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stderr
        assert "not root: your home folder, no sudo" in result.stdout
        assert "aws/install --install-dir ~/.local/aws-cli --bin-dir ~/.local/bin" in result.stdout
        assert "~/.local/bin is not on your PATH" in result.stdout
        assert """export PATH="$HOME/.local/bin:$PATH\"""" in result.stdout
        aws = home / ".local/bin/aws"
        assert aws_version(aws).startswith("aws-cli/2.0.1 ")
        assert (home / ".local/aws-cli/v2/2.0.1/dist/aws").stat().st_uid == 65534

        again = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        assert "already installed, version 2.0.1 at ~/.local/bin/aws" in again.stdout, again.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_update_replaces_an_existing_install(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    settings = settings_for(standin, signer)
    dirs = {"install_dir": tmp_path / "aws-cli", "bin_dir": tmp_path / "bin"}
    publish_awscli(standin, signer, "2.0.1")
    install.install("awscli", settings=settings, system=root_system(tmp_path), **dirs)

    publish_awscli(standin, signer, "2.0.2")
    said: list[str] = []
    result = install.install(
        "awscli",
        update=True,
        settings=settings,
        system=root_system(tmp_path),
        progress=Progress(say=said.append),
        **dirs,
    )
    assert (result.status, result.version) == ("updated", "2.0.2")
    assert "updated: awscli 2.0.1 -> 2.0.2" in said
    assert result.plan is not None and "--update" in result.plan.steps[3].text
    assert aws_version(tmp_path / "bin/aws").startswith("aws-cli/2.0.2 ")
    assert (tmp_path / "aws-cli/v2/current").readlink().name == "2.0.2"


def test_a_signature_by_another_key_is_refused_and_cleaned_up(
    standin: StandinServer, signer: Signer, stranger: Signer, tmp_path: Path
) -> None:
    publish_awscli(standin, signer, signed_by=stranger)
    result = cli_in_tmp(
        tmp_path,
        "install",
        "awscli",
        "--install-dir",
        str(tmp_path / "aws-cli"),
        "--bin-dir",
        str(tmp_path / "bin"),
        env=env_for(standin, signer, tmp_path),
    )
    assert_one_line_error(
        result, "signature check failed", "not in the key file", "download was deleted"
    )
    assert not (tmp_path / "aws-cli").exists() and not (tmp_path / "bin").exists()
    assert list(tmp_path.iterdir()) == []  # no download, no half tree


def test_a_key_file_with_the_wrong_fingerprint_adds_no_trust(
    standin: StandinServer, signer: Signer, stranger: Signer, tmp_path: Path
) -> None:
    """A key served next to the zip is not trusted: only the pinned fingerprint is."""
    publish_awscli(standin, stranger)  # the stranger's key and signature are consistent...
    settings = settings_for(standin, signer)  # ...but the pin is the signer's
    with pytest.raises(InstallError, match=r"signed by key .* not the pinned key"):
        install_as_root(settings, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_changed_zip_fails_its_signature(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    data = publish_awscli(standin, signer)
    standin.files[ZIP] = data[:-10] + b"0123456789"
    with pytest.raises(InstallError, match="does not match its signature"):
        install_as_root(settings_for(standin, signer), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_download_resumes(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    data = publish_awscli(standin, signer)
    standin.faults[ZIP] = ["truncate"]
    result = install.install(
        "awscli",
        settings=settings_for(standin, signer),
        system=root_system(tmp_path),
        install_dir=tmp_path / "aws-cli",
        bin_dir=tmp_path / "bin",
    )
    assert result.status == "installed"
    ranges = [rng for path, rng in standin.requests if path == ZIP]
    assert ranges == ["", f"bytes={len(data) // 2}-"]  # the second asked only for the rest


def test_a_download_that_keeps_failing_leaves_nothing(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    data = publish_awscli(standin, signer)
    standin.faults[ZIP] = ["truncate"] * 10
    with pytest.raises(InstallError, match=rf"got \d+ of {len(data)} bytes"):
        install_as_root(settings_for(standin, signer), tmp_path)
    assert standin.count(ZIP) == 3  # the first try and two retries
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_is_not_retried(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    result = run_install_command(standin, signer, tmp_path)
    assert_one_line_error(result, "404", ZIP)
    assert standin.count(ZIP) == 1
    assert list(tmp_path.iterdir()) == []


def test_server_errors_are_retried(standin: StandinServer, signer: Signer, tmp_path: Path) -> None:
    publish_awscli(standin, signer)
    standin.faults[ZIP] = [500] * 10
    result = run_install_command(standin, signer, tmp_path)
    assert_one_line_error(result, "could not download", "500")
    assert standin.count(ZIP) == 3
    assert "retrying" in result.stderr

    standin.faults[ZIP] = [503]
    result = run_install_command(standin, signer, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "installed: awscli 2.0.1" in result.stdout


def test_an_expired_copy_of_the_pinned_key_still_verifies(tmp_path: Path) -> None:
    """AWS extends its key's expiry date; a stale copy must not block a good signature."""
    old = Signer("expired", made_in_2020_for_a_day=True)
    try:
        data = tmp_path / "file"
        data.write_bytes(b"signed in 2020")
        (tmp_path / "file.sig").write_bytes(old.sign(data.read_bytes()))
        (tmp_path / "key.asc").write_bytes(old.public_key)
        said: list[str] = []
        signer = download.verify_signature(
            data,
            tmp_path / "file.sig",
            tmp_path / "key.asc",
            [old.fingerprint],
            Progress(say=said.append),
        )
        assert signer == old.fingerprint
        assert "  note: this copy of the key has expired; the signature itself is good" in said
    finally:
        old.close()


# --- pieces -------------------------------------------------------------------------------------


def test_extract_keeps_executable_bits_without_unzip(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(awscli_zip("2.0.1"))
    out = download.extract_zip(archive, tmp_path / "out")
    assert os.access(out / "aws/install", os.X_OK)
    assert os.access(out / "aws/dist/aws", os.X_OK)
    assert not os.access(out / "aws/README.md", os.X_OK)
    assert not (tmp_path / "out.partial").exists()


def test_dearmor_gives_what_gpg_dearmor_gives(signer: Signer) -> None:
    expected = subprocess.run(
        ["gpg", "--dearmor"], input=signer.public_key, capture_output=True, check=True
    )
    assert download.dearmor(signer.public_key) == expected.stdout
    assert download.dearmor(expected.stdout) == expected.stdout  # binary passes through


def test_settings_come_from_the_environment() -> None:
    settings = InstallSettings.from_env(
        {"S3LAB_AWSCLI_URL": "http://127.0.0.1:1/x/", "S3LAB_MOUNTPOINT_FINGERPRINT": "ab cd, ef"}
    )
    assert settings.awscli_url == "http://127.0.0.1:1/x"
    assert settings.mountpoint_fingerprints == ("ABCD", "EF")
    assert InstallSettings.from_env({}) == InstallSettings()
    patient = InstallSettings.from_env({"S3LAB_DOWNLOAD_RETRIES": "0"})
    assert patient.retries == 0  # zero means "do not retry", not "unset"
    with pytest.raises(UsageError, match="S3LAB_DOWNLOAD_TIMEOUT"):
        InstallSettings.from_env({"S3LAB_DOWNLOAD_TIMEOUT": "soon"})


# --- Mountpoint ---------------------------------------------------------------------------------


def test_mountpoint_plans_name_the_right_package() -> None:
    real = InstallSettings()
    deb = install.plan("mountpoint", settings=real, system=root_system(Path("/root"))).render()
    assert "https://s3.amazonaws.com/mountpoint-s3-release/latest/x86_64/mount-s3.deb" in deb
    assert "https://s3.amazonaws.com/mountpoint-s3-release/latest/x86_64/mount-s3.deb.asc" in deb
    assert "https://s3.amazonaws.com/mountpoint-s3-release/public_keys/KEYS" in deb
    assert "8AEF E705 EBE3 29C0 948C 75A6 6F1C 3B3A EF4B 030B" in deb
    assert "673F E406 1506 BB46 9A0E F857 BE39 7A52 B086 DA5A" in deb
    assert "apt-get install -y ./mount-s3.deb" in deb
    arm = System("linux", "aarch64", root=False, home=Path("/home/x"), package_manager="dnf")
    rpm = install.plan("mountpoint", settings=real, system=arm).render()
    assert "/latest/arm64/mount-s3.rpm" in rpm
    assert "sudo dnf install -y ./mount-s3.rpm" in rpm


def test_mountpoint_where_it_cannot_run_offers_the_alternatives(tmp_path: Path) -> None:
    mac = System("darwin", "aarch64", root=False, home=tmp_path, package_manager=None)
    with pytest.raises(InstallError) as caught:
        install.plan("mountpoint", system=mac)
    assert "Linux only" in caught.value.message and "s3lab install rclone" in caught.value.hint
    no_fuse = System("linux", "x86_64", True, tmp_path, "apt", fuse_device=tmp_path / "fuse")
    with pytest.raises(InstallError) as caught:
        install.plan("mountpoint", system=no_fuse)
    assert "no FUSE mount" in caught.value.message and "s3lab install s3fs" in caught.value.hint


def test_mountpoint_needs_root_and_downloads_nothing_without_it(
    standin: StandinServer, signer: Signer, tmp_path: Path
) -> None:
    user = System("linux", "x86_64", root=False, home=tmp_path, package_manager="apt")
    if machine.probe_mount_s3():
        pytest.skip(
            "mount-s3 is installed on this machine, so the plan stops at 'already installed'"
        )
    with pytest.raises(InstallError, match="needs root") as caught:
        install.install("mountpoint", settings=settings_for(standin, signer), system=user)
    assert "sudo" in caught.value.hint
    assert standin.requests == []


def dpkg_has(package: str) -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return done.stdout.endswith(" installed")


@pytest.mark.machine_wide  # installs a package: run alone (tasks.sh test), never beside tests
def test_mountpoint_deb_is_installed_by_apt_and_removed(
    standin: StandinServer, signer: Signer
) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        pytest.skip("needs root on Debian/Ubuntu (apt-get, dpkg-deb) to install a .deb")
    if dpkg_has("mount-s3") or shutil.which("mount-s3"):
        pytest.skip("a mount-s3 is already on this machine: not replacing it with a stand-in")
    data = mountpoint_deb("1.19.0")
    standin.files["/mountpoint/latest/x86_64/mount-s3.deb"] = data
    standin.files["/mountpoint/latest/x86_64/mount-s3.deb.asc"] = signer.sign(data)
    standin.files["/mountpoint/public_keys/KEYS"] = signer.public_key
    settings = settings_for(standin, signer)
    system = machine.detect("x86_64")
    try:
        result = install.install("mountpoint", settings=settings, system=system)
        assert (result.status, result.version) == ("installed", "1.19.0")
        assert dpkg_has("mount-s3")
        asked = len(standin.requests)
        again = install.install("mountpoint", settings=settings, system=system)
        assert (again.status, again.version) == ("already installed", "1.19.0")
        assert len(standin.requests) == asked
    finally:
        subprocess.run(["dpkg", "-r", "mount-s3"], capture_output=True, check=False, timeout=300)
    assert not dpkg_has("mount-s3") and not shutil.which("mount-s3")


# --- fuse, s3fs, rclone and the pip method ------------------------------------------------------


@pytest.mark.parametrize(("tool", "package"), [("fuse", "fuse3"), ("s3fs", "s3fs")])
def test_system_packages_already_installed_are_left_alone(tool: str, package: str) -> None:
    if not shutil.which("dpkg-query") or not dpkg_has(package):
        pytest.skip(f"{package} is not installed here (bash tasks.sh setup installs it)")
    result = cli("install", tool)
    assert result.returncode == 0, result.stderr
    assert "already installed, version" in result.stdout and f"(package {package})" in result.stdout


def test_pip_installs_are_left_alone_when_present() -> None:
    for tool, extra in (("rclone", []), ("awscli", ["--method", "pip"])):
        result = cli("install", tool, *extra)
        assert result.returncode == 0, result.stderr
        assert "already installed, version" in result.stdout


def test_system_method_without_root_says_the_sudo_command(tmp_path: Path) -> None:
    user = System("linux", "x86_64", root=False, home=tmp_path, package_manager="apt")
    plan = install.plan("awscli", method="system", system=user)
    if plan.done:
        pytest.skip("Debian's awscli package is installed here")
    assert "sudo apt-get install -y awscli" in plan.render()
    with pytest.raises(InstallError, match="needs root"):
        plan.steps[0].run(tmp_path, Progress())


def test_bad_tool_or_method_is_one_line() -> None:
    assert_one_line_error(cli("install", "awscli", "--method", "brew"), "brew")
    assert_one_line_error(cli("install", "terraform"), "terraform")


# --- the AWS CLI v2 from its source release, and set-up's order -------------------------------


def test_from_source_builds_into_its_own_environment_links_and_reuses(tmp_path: Path) -> None:
    """A real pip build of a stand-in release; the second run only checks (no pip, no venv)."""
    tarball = awscli_source(tmp_path, "2.0.9")
    prefix, bin_dir = tmp_path / "awscli-venv", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/sh\necho aws-cli/1.0.0 Python/3 Linux/x botocore/1\n")
    args = ["install", "awscli", "--from-source", str(tarball), "--prefix", str(prefix)]
    first = run_cli(*args, "--link-into", str(bin_dir))
    assert first.returncode == 0, first.stderr
    assert "installed: awscli 2.0.9" in first.stdout
    for name in ("aws", "aws_completer"):  # v1's aws replaced by a link into the v2 environment
        assert (bin_dir / name).resolve() == (prefix / "bin" / name).resolve()
    found = machine.probe_aws(bin_dir / "aws")
    assert found is not None and (found.version, found.major) == ("2.0.9", 2)
    (prefix / "bin" / "pip").unlink()  # a second run that called pip again would fail
    (bin_dir / "aws").unlink()  # as when pip reinstalled v1 over the link
    again = run_cli(*args, "--link-into", str(bin_dir))
    assert again.returncode == 0, again.stderr
    assert "[1/1] link aws and aws_completer" in again.stdout
    assert machine.probe_aws(bin_dir / "aws") is not None
    quiet = run_cli(*args, "--link-into", str(bin_dir), "--or-v1")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")  # nothing to do


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from-source", "awscli-2.0.9.tar.gz"], ["--prefix"]),
        (["--from-source", "notes.txt", "--prefix", "p"], ["neither"]),
        (["--from-source", "missing/awscli-2.0.9.tar.gz", "--prefix", "p"], ["does not exist"]),
        (["--method", "pip", "--prefix", "p"], ["--prefix"]),
        (["--or-v1", "--prefix", "p"], ["--link-into"]),
    ],
)
def test_from_source_mistakes_are_one_line(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    (tmp_path / "awscli-2.0.9.tar.gz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    saved = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = cli("install", "awscli", *args)
    finally:
        os.chdir(saved)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "p").exists()  # nothing made


def test_source_names_that_are_not_a_v2_release_are_refused(tmp_path: Path) -> None:
    assert install_tools.source_version(Path("awscli-2.36.7.tar.gz")) == "2.36.7"
    assert install_tools.source_version(Path("aws-cli-2.36.7.tar.gz")) == "2.36.7"
    with pytest.raises(InstallError, match="v2 source release"):
        install_tools.source_version(Path("awscli-1.46.3.tar.gz"))  # v1 is on PyPI


def test_setup_zip_from_s3lab_awscli_source_is_checked_and_linked(
    tmp_path: Path, standin: StandinServer, signer: Signer, stranger: Signer
) -> None:
    """S3LAB_AWSCLI_SOURCE=the zip: its .sig beside it checked with the pinned key, then linked."""
    data = awscli_zip("2.0.7")
    zipped = tmp_path / "awscli-exe-linux-x86_64.zip"
    zipped.write_bytes(data)
    (tmp_path / (zipped.name + ".sig")).write_bytes(stranger.sign(data))
    publish_awscli(standin, signer)  # the key (the zip served there is not used)
    settings = settings_for(standin, signer)
    bin_dir = tmp_path / "bin"
    with pytest.raises(InstallError, match="signature check failed"):
        install.awscli_for_setup(
            tmp_path / "v2", bin_dir, source=zipped, settings=settings, system=root_system(tmp_path)
        )
    assert not (bin_dir / "aws").exists()
    zipped.write_bytes(data)  # the failed check deleted it, as it deletes a download
    (tmp_path / (zipped.name + ".sig")).write_bytes(signer.sign(data))
    done = install.awscli_for_setup(
        tmp_path / "v2", bin_dir, source=zipped, settings=settings, system=root_system(tmp_path)
    )
    assert (done.status, done.version) == ("installed", "2.0.7")
    assert machine.probe_aws(bin_dir / "aws") is not None


def test_setup_without_a_source_offline_keeps_v1_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No source, no network: one line, exit 0, and later set-ups do not try again."""
    monkeypatch.delenv("S3LAB_AWSCLI_SOURCE", raising=False)  # .ci/run sets it
    settings = InstallSettings(awscli_url="http://127.0.0.1:9/nothing", retries=0, timeout=2)
    bin_dir = tmp_path / "bin"
    first = install.awscli_for_setup(
        tmp_path / "v2", bin_dir, settings=settings, system=root_system(tmp_path)
    )
    assert first.status == "kept v1" and "could not download" in first.path
    assert (tmp_path / "v2" / install.KEPT_V1).is_file()
    again = install.awscli_for_setup(
        tmp_path / "v2", bin_dir, settings=settings, system=root_system(tmp_path)
    )
    assert (again.status, again.path) == ("kept v1", first.path)
    env = {
        "S3LAB_AWSCLI_URL": "http://127.0.0.1:9/nothing",
        "S3LAB_DOWNLOAD_RETRIES": "0",
        "S3LAB_AWSCLI_SOURCE": "",
    }
    said = run_cli(
        "install",
        "awscli",
        "--or-v1",
        "--prefix",
        str(tmp_path / "v2b"),
        "--link-into",
        str(bin_dir),
        env=env,
    )
    assert said.returncode == 0 and said.stdout == "", said
    lines = said.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: the AWS CLI v1"), lines
    assert "S3LAB_AWSCLI_SOURCE=" in lines[0]
