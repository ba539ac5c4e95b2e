"""What nbval needs before any kernel starts, and the collection of notebooks on each backend.

nbval starts a notebook's kernel before any fixture runs, so the session's variables are exported
in ``pytest_sessionstart``, and the sandboxes are started by a ``pytest_runtest_setup`` hook that
runs before the first integration test's set-up (and so before any kernel). Unit tests run first
and start no server. Each notebook in ``notebooks/`` is collected
once per backend (``notebooks/10_first_bucket.ipynb[moto]``, ``...[server]``); the backend is put
into the environment just before that notebook's kernel starts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from nbval.plugin import IPyNbFile

from s3lab import notebooks, sandbox

# The tests' fixtures, the leak check and the summaries (the markers are in pyproject.toml).
pytest_plugins = ["tests.support.plugin"]

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "sanitize.cfg"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Give the session a private S3LAB_HOME and private AWS files, before any kernel starts."""
    home = Path(tempfile.mkdtemp(prefix="s3lab-tests-"))
    os.environ["S3LAB_HOME"] = str(home)
    os.environ["S3LAB_TEST_HOME"] = str(home)
    # Tests never read or write the tester's own AWS files.
    aws = home / "aws"
    aws.mkdir()
    os.environ["AWS_CONFIG_FILE"] = str(aws / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(aws / "credentials")
    for variable in (
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "S3LAB_BACKEND",
    ):
        os.environ.pop(variable, None)
    # The aws command the notebooks run is the one installed next to this Python (set-up's v2
    # link), unless PATH already names this folder: then PATH's order stands, so a test can put
    # another aws (PyPI's v1) first.
    here = str(Path(sys.executable).parent)
    if here not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ['PATH']}"
    if session.config.option.nbval_sanitize_with is None and SANITIZE.exists():
        session.config.option.nbval_sanitize_with = str(SANITIZE)


# Fixtures that reach the sandboxes: a test that asks for one is an integration test.
SANDBOX_FIXTURES = {"lab", "server", "sandboxes", "site", "ceph"}


def needs_sandboxes(item: pytest.Item) -> bool:
    """True for notebook cells, tests marked ``integration`` and tests using a sandbox fixture."""
    if item.get_closest_marker("integration") is not None:
        return True
    if isinstance(item.parent, IPyNbFile) or str(item.path).endswith(".ipynb"):
        return True
    return bool(SANDBOX_FIXTURES & set(getattr(item, "fixturenames", ())))


#: The longest modules (minutes each: whole-book runs, a browser, a hub), started first so that
#: under ``pytest -n`` no worker begins one of them while the others are finishing.
LONGEST_FIRST = (
    "tests/integration/book/test_policy.py",
    "tests/integration/book/test_policy_enforced.py",
    "tests/integration/book/test_learner.py",
    "tests/integration/book/test_site.py",
    "tests/integration/classroom/test_hub.py",
    "notebooks/40_buckets_cli.ipynb",
    "notebooks/70_mount_semantics.ipynb",
    "tests/integration/reliability/test_faults.py",
    "tests/integration/configure/test_awscli_v2.py",
)


def _order(item: pytest.Item) -> tuple[bool, int]:
    """Unit tests first (no server: fast), then the integration modules, longest first."""
    if item.get_closest_marker("integration") is None:
        return (False, 0)
    where = Path(str(item.path)).relative_to(ROOT).as_posix()
    return (True, LONGEST_FIRST.index(where) if where in LONGEST_FIRST else len(LONGEST_FIRST))


def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Mark integration tests; order the run (see :func:`_order`; the sort is stable)."""
    for item in items:
        if needs_sandboxes(item):
            item.add_marker(pytest.mark.integration)
    items.sort(key=_order)


_STARTED: list[str] = []


def start_sandboxes() -> None:
    """Start both sandboxes once, on the first integration test (nbval's kernels inherit them)."""
    if _STARTED:
        return
    home = os.environ["S3LAB_TEST_HOME"]
    try:
        for backend in sandbox.SANDBOXES:
            box = sandbox.start(backend)
            _STARTED.append(backend)
            print(f"\nsandbox {backend}: {box.endpoint_url}", file=sys.stderr)
    except BaseException:
        sandbox.stop(home=home)
        raise


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before an integration test's set-up (and so before a notebook's kernel starts)."""
    if item.get_closest_marker("integration") is not None:
        start_sandboxes()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the sandboxes and remove their data, whatever the tests did."""
    home = os.environ.get("S3LAB_TEST_HOME")
    if home:
        sandbox.stop(home=home)
        shutil.rmtree(home, ignore_errors=True)


def scratch_left(tmp: Path) -> list[Path]:
    """The scratch folders (``tempfile.mkdtemp(prefix="s3lab-...")``) still in ``tmp``."""
    return sorted(tmp.glob("s3lab-*"))


class BackendNotebook(IPyNbFile):
    """A notebook validated by nbval against one backend.

    Its kernel gets a temporary folder of its own (TMPDIR): a scratch folder the notebook
    leaves there is a missing clean-up cell (every site build and lab run would leave it in
    /tmp), and fails the notebook at teardown, named. Its own folder, not /tmp: under
    ``pytest -n`` other workers make and remove scratch folders in /tmp at the same time.
    """

    backend = "moto"
    tmp: Path | None = None

    def setup(self) -> None:
        """Export the backend and TMPDIR, then let nbval start the kernel (which inherits them)."""
        if self.backend not in sandbox.SANDBOXES:  # an opt-in kind (ceph): only for its notebook
            from s3lab.sandbox import ceph

            why = ceph.cannot_run()
            if why:
                pytest.skip(f"the {self.backend} sandbox cannot run here: {why[0]}")
            sandbox.start(self.backend)
        # In the session's S3LAB_HOME: removed at the session's end, after the mounts' safety net.
        self.tmp = Path(
            tempfile.mkdtemp(
                prefix=f"tmp-{self.path.stem}-{self.backend}-", dir=os.environ["S3LAB_TEST_HOME"]
            )
        )
        saved = {name: os.environ.get(name) for name in ("S3LAB_BACKEND", "TMPDIR")}
        os.environ.update(S3LAB_BACKEND=self.backend, TMPDIR=str(self.tmp))
        try:
            super().setup()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def teardown(self) -> None:
        """Stop the kernel, then fail if the notebook left a scratch folder behind."""
        super().teardown()
        left = scratch_left(self.tmp) if self.tmp else []
        if left:
            pytest.fail(
                f"{self.path.name} on {self.backend} left its scratch folder(s) "
                f"{', '.join(p.name for p in left)} (in {self.tmp}, its kernel's TMPDIR): remove "
                "each in the notebook's last clean-up cell (shutil.rmtree), as 30_configure does",
                pytrace=False,
            )


def notebook_backends(path: Path) -> list[str]:
    """The backends a notebook runs on: its ``s3lab.backends`` metadata, default both."""
    return notebooks.declared_backends(path) or list(sandbox.SANDBOXES)


class NotebookOnBackends(pytest.File):
    """One notebook file; its children are the same notebook on each backend it supports."""

    def collect(self) -> list[BackendNotebook]:
        """One nbval collector per backend: ``notebooks/x.ipynb::moto::Cell 0``."""
        nodes = []
        for backend in notebook_backends(self.path):
            node = BackendNotebook.from_parent(
                self, path=self.path, name=backend, nodeid=f"{self.nodeid}::{backend}"
            )
            node.backend = backend
            nodes.append(node)
        return nodes


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect each notebook in notebooks/ once per backend it supports."""
    if file_path.suffix != ".ipynb" or file_path.parent != NOTEBOOKS:
        return None
    if parent.config.option.nbval or parent.config.option.nbval_lax:
        return None  # plain `pytest --nbval` collects it itself (one run, on $S3LAB_BACKEND)
    return NotebookOnBackends.from_parent(parent, path=file_path)
