"""Fixtures for the unit tests (the session set-up is in the top-level conftest.py)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from s3lab import backends, sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["moto", "server"])
def lab(request: pytest.FixtureRequest) -> backends.Backend:
    """The session's sandbox, once per backend (both are running since session start)."""
    return backends.resolve(request.param)


@pytest.fixture(scope="session")
def server() -> backends.Backend:
    """The SeaweedFS sandbox: the one that checks signatures like AWS."""
    return backends.resolve("server")


@pytest.fixture(scope="session")
def ceph() -> Iterator[backends.Backend]:
    """The opt-in Ceph sandbox: started once on first use, stopped at the end of the session.

    Its stop is checked here: no process started with its config may be left.
    """
    from s3lab.sandbox import ceph as ceph_sandbox

    why = ceph_sandbox.cannot_run()
    if why:
        pytest.skip(f"the ceph sandbox cannot run here: {why[0]} ({why[1]})")
    sandbox.start("ceph")
    yield backends.resolve("ceph")
    sandbox.stop("ceph")
    left = ceph_sandbox.leftovers(sandbox.sandbox_dir() / "ceph")
    assert not left, f"ceph processes left after stop: {left}"


def run_cli(
    *args: str, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real ``s3lab`` command in a child process, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "s3lab.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=180,
        **kwargs,  # type: ignore[arg-type]
    )


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``s3lab ARGS`` in this process through ``cli.main(argv)``: what a person sees, fast.

    Returns the same shape as :func:`run_cli`. An exception that escapes ``main`` is what a
    person would see as a traceback: it is put on stderr with exit code 1, as Python would.
    Keep :func:`run_cli` for the few end-to-end checks of the real command.
    """
    from s3lab import cli as s3lab_cli

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = s3lab_cli.main(list(args))
            except SystemExit as exc:  # --help and argparse's own exits
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["s3lab", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """A failure a person caused: exit code not 0, one line on stderr with a fix, no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], result.stderr  # progress may precede it
    assert " -- fix: " in errors[0], errors[0]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def unavailable(reason: str, what: str) -> NoReturn:
    """Skip with ``reason`` printed; under CI, where set-up installs everything, fail instead.

    ``what`` names the tests that then must run ("the FUSE tests").
    """
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run {what}")
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Safety net for FUSE mounts: unmount any bucket a test or notebook left mounted, and fail.

    Mounts made in this session are recorded in the session's private S3LAB_HOME; one still
    mounted here is a leak (a missing clean-up), so it is removed and the run is failed.
    """
    from s3lab import mount

    leaked = [m for m in mount.mounts() if m.pid]
    for found in leaked:
        print(f"\nleft mounted by a test or notebook: {found.describe()}")
        try:
            mount.unmount(found.directory)
        except Exception as exc:
            print(f"could not unmount {found.directory}: {exc}")
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- reliability summary (tests/test_battery.py, tests/test_faults.py) ---------------------------

#: Filled by the battery and fault tests: cases tried, faults survived, objects lost, open
#: multipart uploads left behind. Printed as one line at the end of the session.
RELIABILITY = {"cases": 0, "faults": 0, "lost": 0, "open_uploads": 0}
#: The same counts per sandbox backend ("socket": the silent server of the hang test, which is
#: neither): the summary says how many ran on each, so a backend left out shows.
RELIABILITY_BY: dict[str, dict[str, int]] = {
    name: {"cases": 0, "faults": 0} for name in ("moto", "server", "socket")
}


#: What has been passed on in reports so far (this process), and the session's sum of them.
_REPORTED: dict[str, int] = {}
_TOTAL: dict[str, int] = {}


def _counts() -> dict[str, int]:
    """Every count, flat: ``cases``... and ``<backend>.cases``..."""
    # The test modules import this file as tests.conftest, pytest as a conftest: ask theirs.
    module = sys.modules.get("tests.conftest")
    flat = dict(getattr(module, "RELIABILITY", RELIABILITY))
    for name, counts in getattr(module, "RELIABILITY_BY", RELIABILITY_BY).items():
        flat.update({f"{name}.{key}": number for key, number in counts.items()})
    return flat


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Carry what a test added to the counts in its report: under ``pytest -n`` the tests run
    in worker processes, and only the reports reach the process that prints the summary."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown":
        counts = _counts()
        delta = {key: counts[key] - _REPORTED.get(key, 0) for key in counts}
        if any(delta.values()):
            report.user_properties.append(("reliability", delta))
            _REPORTED.update(counts)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up the counts the reports carry (in the one process that prints the summary)."""
    for name, value in report.user_properties:
        if name == "reliability":
            for key, number in value.items():
                _TOTAL[key] = _TOTAL.get(key, 0) + number


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: how much bad input and how many faults the session threw at s3lab."""
    shared = {key: _TOTAL.get(key, 0) for key in RELIABILITY}
    by: dict[str, dict[str, int]] = {}
    for key, number in _TOTAL.items():
        if "." in key:
            name, what = key.split(".")
            by.setdefault(name, {})[what] = number
    if not (shared["cases"] or shared["faults"]):
        return

    def split(what: str) -> str:
        parts = [f"{name} {counts[what]}" for name, counts in by.items() if counts[what]]
        return f" ({', '.join(parts)})" if parts else ""

    terminalreporter.write_line(
        f"reliability: {shared['cases']} bad-input cases tried{split('cases')}, "
        f"{shared['faults']} faults survived{split('faults')}, {shared['lost']} objects lost, "
        f"{shared['open_uploads']} open uploads left"
    )
