"""The wheel: s3lab installed from it, outside the checkout, finds its notebooks and its policy.

The package is built into a wheel (setuptools, as ``pip install .`` does) from a copy of the
sources, and installed with ``--no-deps`` into a fresh environment that has no pip and no
s3lab of its own. Its dependencies come from this test's environment through a plain path in
a ``.pth`` file: the editable s3lab there is never reached (a path line does not run that
folder's own ``.pth`` hooks). So everything s3lab reads at run time must be in the wheel, and
what it imports must be a dependency ``pip install .`` would have installed: both are checked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.support import ROOT

#: What the build reads: the metadata, the package (its data links into the two folders).
SOURCES = ("pyproject.toml", "README.md", "s3lab", "notebooks", "policy")

#: Run in the installed s3lab: the dry run, the policy helper, and the modules they imported.
PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    before = set(sys.modules)
    import s3lab
    from s3lab import cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["notebooks", "run", "--backend", "aws", "--dry-run"])
    policy = s3lab.book_policy()
    loaded = sorted({name.split(".")[0] for name in set(sys.modules) - before})
    files = {name: getattr(sys.modules[name], "__file__", None) or "" for name in loaded}
    print(json.dumps({"code": code, "out": out.getvalue(), "file": s3lab.__file__,
                      "policy": policy, "files": files}))
    """
)


def _run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _core_requirements() -> set[str]:
    """s3lab's dependencies without extras, and theirs: what ``pip install .`` installs."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    wanted, todo = set(), ["s3lab"]
    while todo:
        name = todo.pop()
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            if dep not in wanted:
                wanted.add(dep)
                todo.append(dep)
    return wanted


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with s3lab installed from its wheel: its ``bin`` folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("s3lab-*.whl")
    env = tmp / "env"
    _run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp)
    python = env / "bin" / "python"
    _run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp)
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp)
    # This environment's packages, as a plain path: the dependencies, not the editable s3lab.
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n"
    )
    return env / "bin"


def test_the_installed_command_runs_a_dry_run_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    done = _run(
        installed / "s3lab", "notebooks", "run", "--backend", "aws", "--dry-run", cwd=tmp_path
    )
    names = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
    listed = [line.split()[2].rstrip(":") for line in done.stdout.splitlines()[:-1]]
    assert listed == names, done.stdout
    assert "at most $" in done.stdout


def test_the_installed_package_reads_its_data_and_imports_only_its_dependencies(
    installed: Path, tmp_path: Path
) -> None:
    done = _run(installed / "python", "-c", PROBE, cwd=tmp_path)
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["code"] == 0 and "would run 10_first_bucket.ipynb on aws" in found["out"]
    assert Path(found["file"]).is_relative_to(installed.parent), "not the wheel's s3lab"
    assert ROOT not in Path(found["file"]).parents
    assert found["policy"] == json.loads((ROOT / "policy" / "s3lab-book-policy.json").read_text())
    # Each module imported from the shared packages belongs to a dependency pip would install.
    from importlib import metadata

    from packaging.utils import canonicalize_name

    shared = Path(sysconfig.get_path("purelib"))
    owners = metadata.packages_distributions()
    allowed = _core_requirements()
    outside = {
        module: owners.get(module, ["?"])
        for module, file in found["files"].items()
        if file and shared in Path(file).parents
        and not {canonicalize_name(d) for d in owners.get(module, [])} & allowed
    }  # fmt: skip
    assert outside == {}, "imported, but not a dependency of s3lab without extras"
