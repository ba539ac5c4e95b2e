"""Run every notebook of the book against one backend, and remove every bucket the run made.

``s3lab notebooks run --backend aws`` is how a learner on a cloud VM checks the whole book
against their own account. Each notebook runs with papermill (its ``parameters`` cell takes
``backend``, ``profile`` and ``bucket_prefix``) into an output folder. Every bucket a notebook
makes is named from ``bucket_prefix`` (``s3lab.unique_name(bucket_prefix)``, also the ones made
with ``aws s3 mb``), and the run gives each notebook a prefix that starts with the run's own
(``s3lab-run-<random>``). So at the end, also when a notebook failed midway, every bucket whose
name starts with the run's prefix is removed with everything in it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lab import backends, buckets
from s3lab.buckets import cost
from s3lab.errors import NotInstalledError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

#: The package's data: the book's notebooks and the IAM policy that covers them. In a checkout
#: ``s3lab/data/notebooks`` and ``s3lab/data/s3lab-book-policy.json`` are symbolic links to the
#: repository's ``notebooks/`` and ``policy/`` (the book, nbval and a reader find them there);
#: a wheel holds copies (package data), so an installed s3lab finds them too.
DATA = resources.files("s3lab") / "data"

#: The book's notebooks (the default of ``s3lab notebooks run``).
NOTEBOOKS = Path(str(DATA / "notebooks"))

#: The IAM policy that covers every notebook (tests/integration/book/test_policy.py checks it
#: against a run).
POLICY = Path(str(DATA / "s3lab-book-policy.json"))

#: A generous upper bound on what one notebook sends and stores (the largest, chapter 50,
#: writes 250 small objects): used only for the most a run could cost.
MAX_REQUESTS_PER_NOTEBOOK = 2_000
MAX_BYTES_PER_NOTEBOOK = 10 * 1024 * 1024


@dataclass
class Result:
    """How one notebook went."""

    notebook: str
    ok: bool
    seconds: float
    error: str = ""
    #: why it was not run on this backend (a rehearsal chapter, e.g. Kopah's on Ceph)
    skipped: str = ""

    @property
    def verdict(self) -> str:
        """``ok``, ``skipped`` or ``FAILED``: the table's result column."""
        return "skipped" if self.skipped else "ok" if self.ok else "FAILED"


@dataclass
class Run:
    """A whole run: each notebook's result and the buckets removed at the end."""

    prefix: str
    out: Path
    results: list[Result] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Scratch folders left in place because something in them would not unmount.
    kept: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every notebook ran to the end."""
        return all(result.ok for result in self.results)


def notebooks_in(folder: Path | str | None = None) -> list[Path]:
    """The notebooks to run, in the book's order (their names start with the chapter number)."""
    folder = Path(folder) if folder else NOTEBOOKS
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise UsageError(f"no notebooks in {folder}", "pass --notebooks DIR (the book's folder)")
    return found


def parameters(path: Path) -> dict[str, Any]:
    """The names and default values in a notebook's cell tagged ``parameters``."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            values: dict[str, Any] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    values[node.targets[0].id] = ast.literal_eval(node.value)
            return values
    return {}


def declared_backends(path: Path) -> list[str] | None:
    """The sandboxes a notebook's ``s3lab.backends`` metadata names, or None (it names none).

    nbval validates the notebook on these (the root conftest; default: both sandboxes).
    """
    # A notebook is JSON with its metadata at the top in every nbformat 4 version: read without
    # nbformat, which only the book extra installs (``notebooks run --dry-run`` needs no extra).
    metadata = json.loads(Path(path).read_text()).get("metadata", {})
    wanted = metadata.get("s3lab", {}).get("backends")
    return list(wanted) if wanted else None


def rehearsal_only(path: Path, backend: str) -> str:
    """Why ``path`` does not run on ``backend``, or "" when it does.

    A notebook whose ``s3lab.backends`` metadata names only other sandboxes (the Kopah
    chapter: ``["ceph"]``) rehearses on them by design; nbval and the book run it there.
    """
    wanted = declared_backends(path)
    if wanted and backend not in wanted:
        return f"rehearses on the {', '.join(wanted)} sandbox only (the book runs it there)"
    return ""


def book_policy() -> dict[str, Any]:
    """The IAM policy a role needs to run every notebook of the book (only ``s3lab-*`` buckets)."""
    return dict(json.loads(POLICY.read_text()))


def run_prefix() -> str:
    """A prefix that only this run's buckets start with: ``s3lab-run-<6 random characters>``."""
    alphabet = string.ascii_lowercase + string.digits
    return "s3lab-run-" + "".join(secrets.choice(alphabet) for _ in range(6))


def most_it_could_cost(count: int) -> float:
    """A rough upper bound in USD for running ``count`` notebooks once.

    Requests, plus a month of storage for everything they write (the run removes it within
    minutes).
    """
    storage, _ = cost.monthly_cost(count * MAX_BYTES_PER_NOTEBOOK)
    per_request = float(cost.PRICES["usd_per_1000_requests"]["put"]) / 1000
    requests = count * MAX_REQUESTS_PER_NOTEBOOK * per_request
    return storage + requests


def _chapter(path: Path) -> str:
    return path.stem.split("_", 1)[0]


#: The kernel the book's notebooks name (tasks.sh registers it in the venv as "Python (s3lab)").
KERNEL = "python3"


def execute(
    path: Path | str,
    out: Path | str | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    kernel: str = KERNEL,
    timeout: int = 600,
    cwd: Path | str | None = None,
) -> Any:
    """Run one notebook top to bottom; the one runner of ``notebooks run``, the lab check, refresh.

    ``parameters`` go in as papermill's ``-p`` does (an ``injected-parameters`` cell after the
    one tagged ``parameters``); without them the notebook is run as it is, so a refreshed
    notebook keeps its structure. ``timeout`` is seconds per cell; the kernel starts in ``cwd``
    (default: the notebook's folder). The executed copy is written to ``out`` when given (the
    same path as ``path`` re-executes in place), also when a cell fails; then the cell's
    ``nbclient`` ``CellExecutionError`` is raised (:func:`error_line` makes it one line).

    papermill parameterizes and nbclient executes, as in papermill's own engine, but called
    directly: papermill's ``execute_notebook`` fails a run on a cell tagged
    ``raises-exception`` (which nbval and the book allow) and changes the calling process's
    folder while it runs.

    Raises:
        NotInstalledError: papermill is not installed (it comes with ``s3lab[book]``).

    """
    try:
        import nbformat
        from nbclient import NotebookClient
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook
    except ImportError as exc:
        raise NotInstalledError(
            f"running notebooks needs papermill ({exc.name} is not installed)",
            "pip install 's3lab[book]'",
        ) from exc

    path = Path(path)
    if parameters:  # papermill's reader adds the metadata its parameterizing needs
        nb = parameterize_notebook(
            load_notebook_node(str(path)), dict(parameters), kernel_name=kernel
        )
    else:  # no papermill metadata: a notebook re-executed in place changes only its outputs
        nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel,
            resources={"metadata": {"path": str(cwd or path.parent)}},
        ).execute()
    finally:
        if out is not None:
            nbformat.write(nb, str(out))
    return nb


def error_line(exc: BaseException) -> str:
    """One line for a failed notebook: the failing cell's ``Error: message``."""
    ename, evalue = getattr(exc, "ename", ""), getattr(exc, "evalue", "")
    text = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {exc}"
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


#: What a refused request prints, from the ``aws`` command (``An error occurred
#: (AccessDenied)``, ``Access Denied``) or from s3lab's one line for it.
DENIED = ("AccessDenied", "Access Denied", "these credentials may not do this")


def denied(nb: Any) -> str:
    """The first output line of an executed notebook that says a request was refused, or "".

    A ``!aws`` line that fails does not stop its cell (IPython only prints what it said), so a
    run on a role that lacks a permission would go on to the end: this finds the refusal.
    """
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("evalue") or ""
            text += str(output.get("data", {}).get("text/plain", ""))
            for line in str(text).splitlines():
                if any(sign in line for sign in DENIED):
                    return line.strip()[:200]
    return ""


def _execute(path: Path, out: Path, values: dict[str, Any]) -> None:
    """:func:`run`'s default: one notebook with its parameters into the run's folder.

    A request refused anywhere (:func:`denied`) fails the notebook too, as on AWS: a failing
    ``!aws`` line does not stop its cell.
    """
    nb = execute(path, out / path.name, parameters=values)
    refused = denied(nb)
    if refused:
        raise PermissionError(f"a request was refused: {refused}")


def remove_run_buckets(client: S3Client, prefix: str) -> list[str]:
    """Remove, with everything in them, the buckets whose names start with ``prefix``."""
    removed = []
    for bucket in buckets.list_buckets(client):
        if bucket["name"].startswith(prefix):
            buckets.remove_bucket(client, bucket["name"], force=True)
            removed.append(bucket["name"])
    return removed


@contextlib.contextmanager
def kernel_scratch(name: str, kept: list[str]) -> Iterator[Path]:
    """A temporary folder of one notebook's own, as its kernel's TMPDIR, removed afterwards.

    A notebook that stops at a failing cell never reaches its clean-up cell, so what it made
    with ``tempfile`` (chapter 85's holds scratch keys) would stay in /tmp. The kernel inherits
    this process's environment, so its ``tempfile`` folders land here instead. Mounts inside are
    unmounted first, and a folder with anything still mounted is kept (its path goes in
    ``kept``): deleting files through a live mount deletes the bucket's objects.
    """
    from s3lab import mount  # the mount package is only needed once a run starts

    folder = Path(tempfile.mkdtemp(prefix=f"s3lab-run-{Path(name).stem}-"))
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before
        mount.unmount_all(folder)
        if mount.mounted_under(folder):
            kept.append(str(folder))
        else:
            shutil.rmtree(folder, ignore_errors=True)


def run(
    backend: str,
    *,
    profile: str | None = None,
    prefix: str | None = None,
    out: Path | str = "notebooks-run",
    folder: Path | str | None = None,
    report: Callable[[Result], None] | None = None,
    execute: Callable[[Path, Path, dict[str, Any]], None] = _execute,
) -> Run:
    """Run every notebook in ``folder`` on ``backend``; then remove the run's buckets.

    ``report`` is called after each notebook. A notebook that fails does not stop the run. The
    buckets are removed even if the run is interrupted, and each notebook's temporary files
    with its kernel (:func:`kernel_scratch`).

    Raises:
        UsageError: ``backend`` is not one s3lab knows, or ``folder`` holds no notebooks.
        NotInstalledError: papermill is not installed (it comes with ``s3lab[book]``).

    """
    chosen = backends.check_backend(backend)
    paths = notebooks_in(folder)
    if execute is _execute and importlib.util.find_spec("papermill") is None:
        raise NotInstalledError(
            "running notebooks needs papermill, which is not installed", "pip install 's3lab[book]'"
        )
    done = Run(prefix or run_prefix(), Path(out))
    done.out.mkdir(parents=True, exist_ok=True)
    client = buckets.client_for(backends.resolve(chosen, profile=profile))
    try:
        for path in paths:
            accepted = parameters(path)
            values = {"backend": chosen, "profile": profile}
            values["bucket_prefix"] = f"{done.prefix}-{_chapter(path)}"
            values = {name: value for name, value in values.items() if name in accepted}
            why_not = rehearsal_only(path, chosen)
            if why_not:
                done.results.append(Result(path.name, True, 0.0, skipped=why_not))
                if report:
                    report(done.results[-1])
                continue
            started = time.monotonic()
            try:
                with kernel_scratch(path.name, done.kept):
                    execute(path, done.out, values)
                result = Result(path.name, True, time.monotonic() - started)
            except Exception as exc:  # a failing notebook is a row of the table, not the end
                result = Result(path.name, False, time.monotonic() - started, error_line(exc))
            done.results.append(result)
            if report:
                report(result)
    finally:
        done.removed = remove_run_buckets(client, done.prefix)
    return done


def table(results: list[Result]) -> Iterator[str]:
    """The lines of the result table: notebook, result, time."""
    width = max([len("notebook"), *(len(result.notebook) for result in results)])
    yield f"{'notebook':{width}}  result   time"
    for result in results:
        line = f"{result.notebook:{width}}  {result.verdict:7}  {result.seconds:5.1f} s"
        note = result.error or result.skipped
        yield f"{line}  {note}" if note else line
