"""The project's tasks after the set-up: ``tasks.sh`` bootstraps, then hands over to this.

A fresh Debian has only bash and Python, so ``tasks.sh`` keeps what must run before a virtual
environment exists (system packages, picking the interpreter, the venv itself) and then runs
this file with the venv's Python, the venv's ``bin`` first on ``PATH``:

    python scripts/tasks.py book|test|bench|outputs|lint|lab [ARGS...]

``lock`` (maintainers) runs with the interpreter set-up picked, before any venv: this file uses
the standard library only. Each task passes its ``ARGS`` on (to jupyter-book, pytest,
``bench/run.py``, ``scripts/refresh_outputs.py``, JupyterLab or uv) and returns its exit status.
The help and the flags are ``tasks.sh``'s (``bash tasks.sh help``).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The Pythons the project claims: requires-python's lower bound (the lock is resolved for it:
#: 3.11.0) up to [tool.s3lab] newest-python, the newest the lock is checked for.
OLDEST_PYTHON = PYPROJECT["project"]["requires-python"].removeprefix(">=")
NEWEST_PYTHON = PYPROJECT["tool"]["s3lab"]["newest-python"]
#: uv: set-up installs with it (tasks.sh, into .venv-uv), and ``lock`` resolves the lock for a
#: Python it does not have.
UV_VERSION = PYPROJECT["tool"]["s3lab"]["uv"]

# The README's set-up and a fast subset of the tests on the distribution's own Python (Debian
# 12's /usr/bin/python3 is 3.11.2, older than the separately installed python3 a developer or
# CI may have first on PATH): a pin that excludes it fails here, not on a learner's machine.
DISTRO_VENV = ROOT / ".venv-distro"
#: Its set-up shares .venv-awscli with the main one, which has said already if it kept v1.
DISTRO_SETUP = {"S3LAB_VENV": f"{DISTRO_VENV}", "S3LAB_V1_SAID": "1"}
# The unit tests (no server, about 20 s) and the first notebook on moto.
# (Not the test that installs a package with apt: it runs alone, after both sessions.)
# A smoke of the package on that Python (its API, errors, edge cases, backends), then the first
# chapter: the point is the set-up on 3.11.2; the whole unit suite already ran in the main run.
DISTRO_UNIT = (
    *("tests/unit/test_public_api.py", "tests/unit/test_errors.py"),
    *("tests/unit/test_edges.py", "tests/unit/test_backends.py"),
    *("-m", "not integration and not machine_wide"),
)
DISTRO_NOTEBOOK = ("notebooks/10_first_bucket.ipynb::moto",)


def say(message: str) -> None:
    """A step, in bold on stderr, as ``tasks.sh`` writes its own."""
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def fail(message: str) -> int:
    """The one-line error (``error: <what> -- fix: <how>``, written by the caller); status 1."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


def run(
    argv: Sequence[str | Path], env: Mapping[str, str] | None = None, *, quiet: bool = False
) -> int:
    """Run one command in the repository (``env``: variables to add); its exit status.

    Its output is passed through, or with ``quiet`` its standard output is thrown away.
    """
    done = subprocess.run(
        [str(part) for part in argv],
        cwd=ROOT,
        env={**os.environ, **env} if env is not None else None,
        stdout=subprocess.DEVNULL if quiet else None,
        check=False,
    )
    return done.returncode


def with_sandboxes(argv: Sequence[str | Path]) -> int:
    """Run ``argv`` while both sandboxes run (``s3lab sandbox run``), then stop them."""
    return run(["s3lab", "sandbox", "run", "--backend", "all", "--", *argv])


def book(args: Sequence[str]) -> int:
    """Build the site into _build/html, executing the notebooks on a sandbox of its own."""
    say("building the site (notebooks executed on the local sandbox)")
    # A sandbox of its own, so a learner's running sandbox is left alone.
    os.environ["S3LAB_HOME"] = str(ROOT / "_build" / "sandbox")
    # Warnings are errors (-W), all of them reported (--keep-going). A notebook is executed only
    # when its code changed since the last build (execute_notebooks: cache, in _config.yml), so
    # the sandboxes are started only when scripts/book_cache.py names one to execute.
    build = ["jupyter-book", "build", "--all", "-W", "--keep-going", ".", *args]

    def cached() -> bool:
        return run([sys.executable, "scripts/book_cache.py"], quiet=True) == 0

    # Extra flags may build elsewhere: then the build executes (and caches) for itself.
    executes = bool(args) or not cached()
    if executes and not args:  # side by side first, into the cache (scripts/book_execute.py)
        run([sys.executable, "scripts/book_execute.py"])
        executes = not cached()
    if not executes:
        say("every notebook's outputs are in _build/.jupyter_cache: the build executes none")
        status = run(build)
    else:
        status = with_sandboxes(build)
    if status == 0:
        print(f"site: {ROOT}/_build/html/index.html")
    return status


def lint(args: Sequence[str] = ()) -> int:
    """Style and types: ruff, and mypy over the package (with boto3's type stubs)."""
    for argv in (
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "s3lab", "tests", "bench", "scripts", "conftest.py"],
        ["mypy"],
    ):
        status = run(argv)
        if status:
            return status
    return 0


def _python_info(python: str) -> tuple[str, str] | None:
    """(VERSION, REALPATH) of the interpreter ``python``, or None if it does not run."""
    probe = (
        "import os, sys; print('%d.%d.%d' % sys.version_info[:3], os.path.realpath(sys.executable))"
    )
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    except OSError:
        return None
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return None
    version, _, path = lines[-1].partition(" ")
    return version, path


def _new_enough(version: str) -> bool:
    """True when ``version`` (X.Y.Z) is at least OLDEST_PYTHON."""
    have = tuple(int(part) for part in version.split(".")[:2])
    return have >= tuple(int(part) for part in OLDEST_PYTHON.split("."))


def test_distro() -> int:
    """The README's set-up into .venv-distro from Debian's own python3, then a fast subset."""
    python = os.environ.get("S3LAB_DISTRO_PYTHON", "/usr/bin/python3")
    info = _python_info(python)
    if info is None:
        say(f"distribution's Python: skipped, {python} does not run here (not Debian or Ubuntu)")
        return 0
    version = info[0]
    if not _new_enough(version):
        say(
            f"distribution's Python: skipped, {python} is {version}, older than {OLDEST_PYTHON}"
            " (set-up picks another Python there)"
        )
        return 0
    say(
        f"distribution's Python ({python}, {version}): README set-up into {DISTRO_VENV},"
        " then a fast subset"
    )
    started = time.monotonic()
    env = {"PATH": f"{DISTRO_VENV / 'bin'}:{os.environ['PATH']}"}
    distro_python = DISTRO_VENV / "bin" / "python"
    status = (
        run(["bash", "tasks.sh", "setup"], {**DISTRO_SETUP, "S3LAB_PYTHON": python})
        or run([distro_python, "-m", "pytest", "-q", *DISTRO_UNIT], env)
        or run([distro_python, "-m", "pytest", "-q", *DISTRO_NOTEBOOK], env)
    )
    verdict = "passed" if status == 0 else "FAILED"
    seconds = int(time.monotonic() - started)
    say(f"distribution's Python: set-up and subset {verdict} in {seconds} s")
    return status


def side(args: Sequence[str] = ()) -> int:
    """What runs beside the whole suite: lint, then the distribution's Python subset."""
    say("lint: ruff and mypy")
    lint_status = lint()
    distro_status = test_distro()
    return 1 if lint_status or distro_status else 0


def test(args: Sequence[str]) -> int:
    """Every test (no ARGS), or the selection ARGS alone in one process."""
    if args:
        say("lint and the distribution's Python: skipped, a test selection was given")
        return run([sys.executable, "-m", "pytest", *args])
    # Lint and the distribution's Python subset run beside the suite (mostly waiting on pip
    # and on servers, as the suite is); their output is shown when the suite is done.
    with tempfile.TemporaryFile("w+") as side_log:
        beside = subprocess.Popen(
            [sys.executable, __file__, "side"], cwd=ROOT, stdout=side_log, stderr=subprocess.STDOUT
        )
        # The suite in pytest-xdist workers, a test file at a time in each (a notebook's cells
        # share one kernel); each worker starts its own sandboxes. Two workers per core, up to
        # 4: much of a test is waiting for a server, a kernel or a browser.
        workers = min((os.cpu_count() or 1) * 2, 4)
        pytest = [sys.executable, "-m", "pytest"]
        # In conftest.py's order (the longest modules first), not xdist's (most tests first).
        spread = ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"]
        # The slowest tests, printed at the end: where the test command's minutes go.
        spread += ["--durations", "20", "--durations-min", "10"]
        suite = run([*pytest, *spread, "-m", "not machine_wide"])
        status = 1 if beside.wait() else suite
        say("beside the suite: lint and the distribution's Python")
        side_log.seek(0)
        sys.stdout.write(side_log.read())
        sys.stdout.flush()
    # Last and alone: what changes the machine (installs a package) while nothing else runs.
    say("tests that change the machine, alone")
    status = run([*pytest, "-q", "-m", "machine_wide"]) or status
    say(f"tests: {'all passed' if status == 0 else 'FAILED, see above'}")
    return status


def bench(args: Sequence[str]) -> int:
    """Benchmarks: about 15 minutes (removal, uploads, 1 GiB up/down, mounts, the book)."""
    return run([sys.executable, "bench/run.py", *args])


def outputs(args: Sequence[str]) -> int:
    """Re-execute the notebooks in place, on a sandbox of the build's own."""
    os.environ["S3LAB_HOME"] = str(ROOT / "_build" / "sandbox")
    return with_sandboxes([sys.executable, "scripts/refresh_outputs.py", *args])


def _host() -> str:
    """The machine's name as ``hostname -f`` says it (Python's getfqdn may say localhost)."""
    with contextlib.suppress(OSError):
        done = subprocess.run(["hostname", "-f"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return socket.gethostname()


def lab(args: Sequence[str]) -> int:
    """The learner's lab, once set up: both sandboxes, then JupyterLab (or ``--check``)."""
    from jupyter_client.kernelspec import KernelSpecManager

    shown = KernelSpecManager().get_kernel_spec("python3").display_name
    home = os.environ.get("S3LAB_HOME") or f"{Path.home()}/.s3lab"
    say(f"starting both sandboxes (moto and SeaweedFS) in {home}")
    started = run(["s3lab", "sandbox", "start", "--backend", "all"], quiet=True)
    if started:
        return started
    if args[:1] == ["--check"]:
        say(f'running every notebook in the kernel "{shown}"')
        return run([sys.executable, "scripts/lab_check.py", *args[1:]])
    port = os.environ.get("S3LAB_LAB_PORT", "8888")
    # At the repository's root, so a notebook's links to ../book/*.md open; the notebooks shown.
    jupyter = [
        "jupyter",
        "lab",
        "--ServerApp.root_dir=.",
        "--LabApp.default_url=/lab/tree/notebooks",
    ]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        jupyter += ["--no-browser", "--ip=127.0.0.1", f"--port={port}"]
        where = f"{getpass.getuser()}@{_host()}"
        say(f"no display here: on your own computer run  ssh -L {port}:127.0.0.1:{port} {where}")
        say(
            f"then open the http://127.0.0.1:{port}/lab/tree/notebooks?token=... link"
            " JupyterLab prints below"
        )
    if os.getuid() == 0:
        jupyter.append("--allow-root")
    stop = "stop it with Ctrl+C, then: s3lab sandbox stop"
    say(f'opening JupyterLab on the repository, at notebooks/ (kernel "{shown}"); {stop}')
    os.chdir(ROOT)
    os.execvp(jupyter[0], [*jupyter, *args])


def lock(args: Sequence[str]) -> int:
    """Maintainers only: re-resolve requirements.lock.

    For the oldest claimed Python, one pin per package for every claimed version (universal,
    fewest versions; the current lock's pins are kept where they still fit), then a check that
    it installs from wheels on each claimed minor version. ARGS: ``--upgrade`` (or
    ``--upgrade-package NAME``) moves pins forward.
    """
    tools = ROOT / ".venv-uv"
    uv = tools / "bin" / "uv"
    version = ""
    if uv.exists():
        version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout
    if f" {UV_VERSION}" not in version:
        say(f"installing uv {UV_VERSION} into {tools}")
        pip = [tools / "bin" / "python", "-m", "pip", "install", "-q", f"uv=={UV_VERSION}"]
        if run(["python3", "-m", "venv", tools]) or run(pip):
            return 1
    lock_file = ROOT / "requirements.lock"
    compile_ = [uv, "pip", "compile", "-q", "pyproject.toml", "--extra", "test"]
    with tempfile.NamedTemporaryFile("w", suffix=".lock", delete=False) as out:
        resolved = Path(out.name)
    try:
        # First for the oldest Python alone (a kept pin that needs a newer one, such as
        # soupsieve 4.1.3 needing 3.11.5, is replaced here), then for all of them with those
        # pins preferred.
        shutil.copy(lock_file, resolved)
        oldest = [*compile_, "--python-version", OLDEST_PYTHON, "--no-header", "-o", resolved]
        every = [*compile_, "--universal", "--fork-strategy", "fewest",
                 "--python-version", OLDEST_PYTHON, "--annotation-style", "line", "--no-header",
                 "-o", resolved]  # fmt: skip
        status = run([*oldest, *args]) or run(every)
        if status:
            return status
        header = (
            "# Every pinned dependency of s3lab[test], one version for every Python from\n"
            f"# {OLDEST_PYTHON}.0 to {NEWEST_PYTHON}"
            " (the markers name the few needed only on some).\n"
            "# Made by 'bash tasks.sh lock'"
            f" (uv pip compile --universal --python-version {OLDEST_PYTHON});\n"
            "# set-up installs it with uv (or plain pip):"
            " uv pip install -c requirements.lock -e '.[test]'\n"
        )
        lock_file.write_text(header + resolved.read_text())
    finally:
        resolved.unlink(missing_ok=True)
    oldest_minor, newest_minor = (int(v.split(".")[1]) for v in (OLDEST_PYTHON, NEWEST_PYTHON))
    for minor in range(oldest_minor, newest_minor + 1):
        for platform in ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28"):
            check = [*compile_, "-c", "requirements.lock", "--python-version", f"3.{minor}",
                     "--python-platform", platform, "--no-build", "-o", "/dev/null"]  # fmt: skip
            if run(check):
                return fail(
                    f"requirements.lock does not install on Python 3.{minor} ({platform}) -- fix:"
                    " pin a version that does, or narrow requires-python"
                )
    say(
        f"requirements.lock: resolved for Python {OLDEST_PYTHON}.0, wheels for {OLDEST_PYTHON}"
        f" to {NEWEST_PYTHON} checked"
    )
    return 0


TASKS: dict[str, Callable[[Sequence[str]], int]] = {
    "book": book,
    "test": test,
    "bench": bench,
    "outputs": outputs,
    "lint": lint,
    "lab": lab,
    "lock": lock,
    "side": side,  # the test task's side session, in a process of its own
}


def main(argv: Sequence[str]) -> int:
    """Run the task ``argv[0]`` with the rest of ``argv``; its exit status."""
    if not argv or argv[0] not in TASKS:
        named = repr(argv[0]) if argv else "named"
        return fail(f"no task {named} -- fix: bash tasks.sh help")
    return TASKS[argv[0]](list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
