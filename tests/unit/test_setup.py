"""Set-up: the lock installs on every Python the project claims, and set-up picks its Python.

The claimed Pythons are pyproject.toml's requires-python lower bound (3.11.0, the version the
lock is resolved for) and each later minor version up to ``[tool.s3lab] newest-python``. Here,
offline, every pin installed for the running Python is checked against the installed
distribution's own Requires-Python; pins only some other Python installs (aiohttp on 3.12) are
checked by ``bash tasks.sh lock``, which resolves the lock with wheels on each claimed version.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.support import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"

# The pins of the lock before this check existed: soupsieve 4.1.3 needs Python >= 3.11.5, so
# set-up failed on Debian 12's own python3 (3.11.2).
OLD_LOCK_EXCERPT = "soupsieve==4.1.3\nSphinx==7.3.7\n"


def claimed_pythons(pyproject: dict) -> list[str]:
    """Every Python the project claims: X.Y.0 for each minor from requires-python to newest-python."""
    (bound,) = SpecifierSet(pyproject["project"]["requires-python"])
    assert bound.operator == ">=", f"requires-python must be a plain lower bound, not {bound}"
    major, oldest = (int(part) for part in bound.version.split(".")[:2])
    newest_major, newest = (
        int(part) for part in pyproject["tool"]["s3lab"]["newest-python"].split(".")
    )
    assert newest_major == major and newest >= oldest
    return [f"{major}.{minor}.0" for minor in range(oldest, newest + 1)]


def lock_pins(text: str) -> list[Requirement]:
    """The requirements of a lock file (``name==version ; marker  # via ...``)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line]


def applies(pin: Requirement, python: str) -> bool:
    """Does pip install this pin on that Python (its marker, on this machine's platform)?"""
    if pin.marker is None:
        return True
    return pin.marker.evaluate(
        {"python_full_version": python, "python_version": python.rsplit(".", 1)[0]}
    )


def excluded(requires_python: str | None, pythons: Iterable[str]) -> list[str]:
    """The Pythons a distribution's Requires-Python leaves out."""
    if not requires_python:
        return []
    spec = SpecifierSet(requires_python)
    return [python for python in pythons if not spec.contains(python, prereleases=True)]


def lock_problems(
    text: str, pythons: list[str], requires_python: Callable[[str, str], str | None]
) -> list[str]:
    """Each pin whose Requires-Python leaves out a claimed Python it would be installed on."""
    problems = []
    for pin in lock_pins(text):
        (version,) = (spec.version for spec in pin.specifier)
        on = [python for python in pythons if applies(pin, python)]
        if missed := excluded(requires_python(pin.name, version), on):
            problems.append(f"{pin.name}=={version} does not install on Python {', '.join(missed)}")
    return problems


def installed_requires_python(name: str, version: str) -> str | None:
    """Requires-Python of the installed distribution, which must be the pinned version."""
    installed = importlib.metadata.distribution(name)
    assert installed.version == version, (
        f"{name} {installed.version} is installed, the lock pins {version} -- fix: bash tasks.sh setup"
    )
    return installed.metadata.get("Requires-Python")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def test_claimed_pythons_start_at_the_lock_s_target(pyproject: dict) -> None:
    claimed = claimed_pythons(pyproject)
    assert claimed[0] == "3.11.0"  # Debian 12's own python3 is 3.11.2
    assert "3.13.0" in claimed  # Debian 13's
    running = "{}.{}.{}".format(*sys.version_info[:3])
    assert any(running.startswith(python[:-1]) for python in claimed), running


def test_the_check_catches_the_pin_that_broke_debian_12() -> None:
    claimed = ["3.11.0", "3.12.0", "3.13.0", "3.14.0"]
    assert excluded(">=3.11.5", claimed) == ["3.11.0"]
    assert excluded(">=3.10", claimed) == []
    assert excluded("!=3.12.*,>=3.8", claimed) == ["3.12.0"]
    metadata = {("soupsieve", "4.1.3"): ">=3.11.5", ("Sphinx", "7.3.7"): ">=3.9"}
    problems = lock_problems(OLD_LOCK_EXCERPT, claimed, lambda n, v: metadata[(n, v)])
    assert problems == ["soupsieve==4.1.3 does not install on Python 3.11.0"]


def test_a_pin_only_for_other_pythons_is_not_held_against_this_one() -> None:
    pins = "aiohttp==3.14.5 ; python_full_version == '3.12.*'  # via papermill\n"
    problems = lock_problems(pins, ["3.11.0", "3.12.0"], lambda n, v: ">=3.12")
    assert problems == []
    assert lock_problems(pins, ["3.11.0", "3.12.0"], lambda n, v: ">=3.13") == [
        "aiohttp==3.14.5 does not install on Python 3.12.0"
    ]


def test_no_pinned_version_excludes_a_claimed_python(pyproject: dict) -> None:
    """Offline: the installed distributions' own Requires-Python, for each pin this Python installs."""
    running = "{}.{}.{}".format(*sys.version_info[:3])
    here = "\n".join(str(pin) for pin in lock_pins(LOCK.read_text()) if applies(pin, running))
    assert here.count("\n") > 100, "the lock pins far fewer packages than s3lab[test] needs"
    assert lock_problems(here, claimed_pythons(pyproject), installed_requires_python) == []


def test_the_lock_has_one_version_per_package_and_pins_everything_installed() -> None:
    names = [canonicalize_name(pin.name) for pin in lock_pins(LOCK.read_text())]
    assert sorted({n for n in names if names.count(n) > 1}) == []
    unpinned = (
        {canonicalize_name(dist.metadata["Name"]) for dist in importlib.metadata.distributions()}
        - set(names)
        - {"pip", "s3lab"}
    )
    assert unpinned == set(), "installed but not in the lock -- fix: bash tasks.sh lock"


def test_the_lock_serves_the_test_extra(pyproject: dict) -> None:
    names = {canonicalize_name(pin.name) for pin in lock_pins(LOCK.read_text())}
    extras = pyproject["project"]["optional-dependencies"]
    wanted = [*pyproject["project"]["dependencies"], *(r for e in extras.values() for r in e)]
    direct = {canonicalize_name(Requirement(r).name) for r in wanted} - {"s3lab"}
    assert {"mypy", "boto3-stubs", "mypy-boto3-s3", "mypy-boto3-sts"} <= names
    assert direct - names == set()


def test_environment_yml_names_a_claimed_python_and_installs_the_lock(pyproject: dict) -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pythons) == 1, pythons
    match = re.fullmatch(r"python=(\d+\.\d+)", pythons[0])
    assert match, f"{pythons[0]}: name one minor version, python=X.Y"
    assert f"{match[1]}.0" in claimed_pythons(pyproject)
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == ["-c requirements.lock", "-e .[test]"]


# Set-up's choice of interpreter, with stand-ins for an old Python (Ubuntu 22.04's 3.10).
OLD_PYTHON = "#!/bin/sh\necho '3.10.12 /usr/bin/python3.10'\n"


def _tasks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "tasks.sh"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=120,
    )


def _stand_in(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _path_without_python(tmp_path: Path) -> Path:
    """A folder with every command of /usr/bin and /usr/sbin but no Python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in (Path("/usr/sbin"), Path("/usr/bin")):
        for tool in folder.iterdir():
            if not tool.name.startswith("python") and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    return bin_dir


def test_an_old_s3lab_python_is_one_line_with_the_fix(tmp_path: Path) -> None:
    old = _stand_in(tmp_path / "python3.10", OLD_PYTHON)
    venv = tmp_path / "venv"
    result = _tasks({"S3LAB_PYTHON": str(old), "S3LAB_VENV": str(venv)}, "setup")
    assert_one_line_error(
        result, "3.10.12", "3.11", "apt-get install python3.11 python3.11-venv", "environment.yml"
    )
    assert "Resolution" not in result.stderr
    assert not venv.exists()


def test_a_missing_s3lab_python_is_one_line(tmp_path: Path) -> None:
    result = _tasks(
        {"S3LAB_PYTHON": str(tmp_path / "nope"), "S3LAB_VENV": str(tmp_path / "v")}, "setup"
    )
    assert_one_line_error(result, "does not run")


def test_no_new_enough_python_on_path_is_one_line(tmp_path: Path) -> None:
    bin_dir = _path_without_python(tmp_path)
    _stand_in(bin_dir / "python3", OLD_PYTHON)
    venv = tmp_path / "venv"
    result = _tasks({"PATH": str(bin_dir), "S3LAB_VENV": str(venv)}, "setup")
    assert_one_line_error(result, "python3 is 3.10.12", "python3.11-venv", "conda env create")
    assert not venv.exists()


def test_python3_11_is_found_beside_an_old_python3(tmp_path: Path) -> None:
    """Ubuntu 22.04 after ``apt install python3.11``: python3 is 3.10, python3.11 is taken."""
    bin_dir = _path_without_python(tmp_path)
    _stand_in(bin_dir / "python3", OLD_PYTHON)
    (bin_dir / f"python3.{sys.version_info[1]}").symlink_to(sys.executable)
    venv = _kept_venv(tmp_path / "venv")
    result = _tasks({"PATH": str(bin_dir), "S3LAB_VENV": str(venv)}, "setup")
    assert result.returncode == 0, result.stderr
    assert "installing Python packages" not in result.stderr


def _kept_venv(venv: Path, s3lab: str = "#!/bin/sh\nexit 0\n") -> Path:
    """A venv already set up from this Python with these inputs: set-up keeps it, says nothing.

    ``s3lab`` is its stand-in command (set-up's AWS CLI v2 step): by default, done at once.
    """
    base = os.path.realpath(sys.executable)
    version = "{}.{}.{}".format(*sys.version_info[:3])
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(base)
    inputs = hashlib.sha256(PYPROJECT.read_bytes() + LOCK.read_bytes()).hexdigest()[:16]
    (venv / ".s3lab-setup").write_text(f"python {version} {base}\ninputs {inputs}\n")
    _stand_in(venv / "bin" / "s3lab", s3lab)
    return venv


def test_the_aws_cli_v2_lives_beside_the_venv_it_is_linked_into(tmp_path: Path) -> None:
    """A build from a copy of the tree with S3LAB_VENV (scripts/build_times.py) used to link the
    venv's ``aws`` into the copy's .venv-awscli, which was then deleted: ``aws`` was left
    dangling in the project's own venv."""
    said = tmp_path / "said"
    venv = _kept_venv(tmp_path / "venv", f'#!/bin/sh\necho "$@" > {said}\n')
    result = _tasks({"S3LAB_VENV": str(venv)}, "setup")
    assert result.returncode == 0, result.stderr
    assert said.read_text().split() == [
        "install", "awscli", "--or-v1",
        "--prefix", str(tmp_path / ".venv-awscli"),
        "--link-into", str(venv / "bin"),
    ]  # fmt: skip
