"""The tests' fixtures and session hooks, registered by the root ``conftest.py``.

- ``lab`` (both sandboxes), ``server``, ``ceph``: where an integration test sends requests;
- ``aws_files``: private AWS files for one test; ``site``: the session's one build of the book;
- a leak check that unmounts what a test left mounted, and fails the run;
- the reliability summary line, added up from every pytest-xdist worker's reports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lab import backends, sandbox
from tests.support import RELIABILITY, RELIABILITY_BY
from tests.support.site import built_site


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


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Private AWS files for one test, in os.environ: cli() and run_cli's children see them."""
    config, credentials = tmp_path / "aws" / "config", tmp_path / "aws" / "credentials"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no waiting for an instance role
    for variable in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(variable, raising=False)
    return config, credentials


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_site(tmp_path_factory.getbasetemp())


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


#: What has been passed on in reports so far (this process), and the session's sum of them.
_REPORTED: dict[str, int] = {}
_TOTAL: dict[str, int] = {}


def _counts() -> dict[str, int]:
    """Every count, flat: ``cases``... and ``<backend>.cases``..."""
    # The test modules import this file as tests.support, pytest as a conftest: ask theirs.
    module = sys.modules.get("tests.support")
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
    """Each report: a notebook cell's outcome, and the reliability counts it carries."""
    remember_cell(report)
    add_counts(report)


def add_counts(report: pytest.TestReport) -> None:
    """Add up the counts the reports carry (in the one process that prints the summary)."""
    for name, value in report.user_properties:
        if name == "reliability":
            for key, number in value.items():
                _TOTAL[key] = _TOTAL.get(key, 0) + number


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The notebooks' summary, then the reliability line."""
    notebooks_summary(terminalreporter)
    reliability_summary(terminalreporter)


def reliability_summary(terminalreporter: pytest.TerminalReporter) -> None:
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


# --- which notebooks ran where (nbval) ------------------------------------------------------

_NOTEBOOK_RESULTS: dict[tuple[str, str], list[str]] = {}


def remember_cell(report: pytest.TestReport) -> None:
    """Remember each notebook cell's outcome, per notebook and backend, for the summary."""
    parts = report.nodeid.split("::")
    is_cell = len(parts) == 3 and parts[0].endswith(".ipynb")
    # a cell's call, or a failed set-up (its kernel did not start) counts as its outcome
    if is_cell and (report.when == "call" or report.outcome != "passed"):
        _NOTEBOOK_RESULTS.setdefault((parts[0], parts[1]), []).append(report.outcome)


def notebooks_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one line per notebook and backend: the proof that each ran on both."""
    if not _NOTEBOOK_RESULTS:
        return
    terminalreporter.section("notebooks validated (nbval)")
    for (notebook, backend), outcomes in sorted(_NOTEBOOK_RESULTS.items()):
        bad = [o for o in outcomes if o != "passed"]
        verdict = "ok" if not bad else f"{len(bad)} not passed ({', '.join(sorted(set(bad)))})"
        terminalreporter.write_line(f"{notebook:45} {backend:7} {len(outcomes):3} cells  {verdict}")
