"""The site built once per test session, shared by test_book.py and test_site.py.

Each of those modules has its own ``site`` fixture (a fixture named ``site`` marks a test as
integration, so the session's sandboxes are running); both call :func:`built_site`, which builds
only once. The build runs jupyter-book as ``bash tasks.sh book`` does (``--all -W
--keep-going``: warnings are errors) into a temporary folder, with an empty execution cache.

It executes one notebook (:data:`EXECUTED`), the way the book command executes each: that proves
the build's own execution on its sandbox. The others show their stored outputs, which nbval has
just proved are what executing them prints (on moto and on SeaweedFS, in this same run):
executing all sixteen again here cost a quarter of the suite's time on CI's two cores.
"""

from __future__ import annotations

import fcntl
import functools
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
BUILD_FLAGS = ["--all", "-W", "--keep-going"]
#: The notebook the test build executes (the first chapter: short, and it makes a bucket).
EXECUTED = "notebooks/10_first_bucket.ipynb"


def test_config(out: Path) -> Path:
    """The book's _config.yml, executing only :data:`EXECUTED`, written into ``out``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    others = sorted(
        f"notebooks/{path.name}"
        for path in (ROOT / "notebooks").glob("*.ipynb")
        if f"notebooks/{path.name}" != EXECUTED
    )
    config["execute"]["exclude_patterns"] += others
    # jupyter-book finds local extensions relative to the configuration file's folder
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(ROOT / at) for name, at in extensions.items()}
    path = out / "_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def jupyter_book(out: Path, *args: str, log_name: str = "build.log") -> Path:
    """Run ``jupyter-book build ARGS`` into ``out``; fail with the log's tail; return the log."""
    config = test_config(out)
    done = subprocess.run(
        [
            *(str(JUPYTER_BOOK), "build", *BUILD_FLAGS, *args, str(ROOT)),
            *("--path-output", str(out), "--config", str(config)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=1500,
        check=False,
    )
    log = out / log_name
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (
        f"jupyter-book build {' '.join(args)} failed, see {log}:\n"
        f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return log


@functools.cache
def _build(out: Path) -> Path:
    """Build into ``out`` unless another process of this session already did (then reuse it).

    Under ``pytest -n`` the tests that need the site may run in different worker processes;
    the first to get the lock builds, the others wait for it and read the same folder.
    """
    html = out / "_build" / "html"
    with (out.parent / "site.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "built").exists():
            jupyter_book(out)
            (out / "built").touch()
    return html


def built_site(base: Path) -> Path:
    """The built HTML folder (``<base>/site/_build/html``), built on the first call only.

    ``base`` is the session's temporary folder; under ``pytest -n``, its parent, which the
    workers share.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    out = base / "site"
    out.mkdir(exist_ok=True)
    return _build(out)
