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
import logging
import secrets
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lab import backends, buckets
from s3lab.buckets import cost
from s3lab.errors import UsageError

logger = logging.getLogger(__name__)

#: The book's notebooks, next to the package in a checkout of the repository.
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: The IAM policy that covers every notebook (tests/test_policy.py checks it against a run).
POLICY = Path(__file__).resolve().parent.parent / "policy" / "s3lab-book-policy.json"

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
    import nbformat

    wanted = nbformat.read(path, as_version=4).metadata.get("s3lab", {}).get("backends")
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
    import json

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
    per_request = cost.PRICES["usd_per_1000_requests"]["put"] / 1000
    requests = count * MAX_REQUESTS_PER_NOTEBOOK * per_request
    return storage + requests


def _chapter(path: Path) -> str:
    return path.stem.split("_", 1)[0]


def _first_line(exc: BaseException) -> str:
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
    """Run one notebook with papermill's parameters, as nbval runs it.

    Cells tagged ``raises-exception`` may fail; the executed copy is written even when a cell
    fails. A request refused anywhere (:func:`denied`) fails the notebook too, as on AWS.
    """
    import nbformat
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(path)), values)
    try:
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        nbformat.write(nb, out / path.name)
    refused = denied(nb)
    if refused:
        raise PermissionError(f"a request was refused: {refused}")


def remove_run_buckets(client: Any, prefix: str) -> list[str]:
    """Remove, with everything in them, the buckets whose names start with ``prefix``."""
    removed = []
    for bucket in buckets.list_buckets(client):
        if bucket["name"].startswith(prefix):
            buckets.remove_bucket(client, bucket["name"], force=True)
            removed.append(bucket["name"])
    return removed


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
    buckets are removed even if the run is interrupted.
    """
    chosen = backends.check_backend(backend)
    paths = notebooks_in(folder)
    done = Run(prefix or run_prefix(), Path(out))
    done.out.mkdir(parents=True, exist_ok=True)
    client = buckets.client_for(chosen, profile=profile)
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
                execute(path, done.out, values)
                result = Result(path.name, True, time.monotonic() - started)
            except Exception as exc:  # a failing notebook is a row of the table, not the end
                result = Result(path.name, False, time.monotonic() - started, _first_line(exc))
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
