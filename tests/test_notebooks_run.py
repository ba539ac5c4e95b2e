"""s3lab notebooks run: every notebook, a table, and no bucket left behind, even on a failure.

One run over all the book's notebooks on the ``server`` sandbox (about a minute), with one
notebook made to fail midway, after it made a bucket and put an object in it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from s3lab import buckets, notebooks
from tests.conftest import cli

FAILING = "10_first_bucket.ipynb"


def with_a_failure(folder: Path) -> Path:
    """A copy of the book's notebooks where chapter 10 fails after its first upload."""
    copy = folder / "notebooks"
    shutil.copytree(notebooks.NOTEBOOKS, copy, ignore=shutil.ignore_patterns(".*", "_build"))
    path = copy / FAILING
    nb = nbformat.read(path, as_version=4)
    at = next(i for i, cell in enumerate(nb.cells) if "aws s3 cp hello.txt" in cell.source)
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell('raise RuntimeError("injected failure")'))
    nbformat.write(nb, path)
    return copy


def test_dry_run_lists_every_notebook_and_a_cost() -> None:
    result = cli("notebooks", "run", "--backend", "aws", "--dry-run")
    assert result.returncode == 0, result.stderr
    names = [path.name for path in notebooks.notebooks_in()]
    for name in names:
        assert f"would run {name} on aws" in result.stdout
    assert "at most $" in result.stdout


def code_outside_solutions(path: Path) -> str:
    """A notebook's code cells but the exercises' worked solutions: an exercise's bucket is
    named by its id (its check finds it so), made on the sandbox only, removed by its clean-up.
    """
    code, solution = [], False
    for cell in nbformat.read(path, as_version=4).cells:
        solution = "{solution-start}" in cell.source or (
            solution and "{solution-end}" not in cell.source
        )
        if cell.cell_type == "code" and not solution:
            code.append(cell.source)
    return "\n".join(code)


def test_every_bucket_name_comes_from_the_prefix_parameter() -> None:
    """Cleanup finds a run's buckets by name: each notebook takes bucket_prefix if it makes any."""
    for path in notebooks.notebooks_in():
        code = code_outside_solutions(path)
        if "unique_name(" in code or " mb " in code or "make_bucket" in code:
            assert "bucket_prefix" in notebooks.parameters(path), path.name
        assert 'unique_name("' not in code, f"{path.name} names a bucket from a fixed prefix"
        assert "s3://s3lab" not in code, f"{path.name} names a fixed bucket"


def test_run_on_server_reports_and_cleans_up_after_a_failure(
    tmp_path: Path, server: object
) -> None:
    folder = with_a_failure(tmp_path)
    prefix = notebooks.run_prefix()
    result = cli(
        "notebooks", "run", "--backend", "server", "--prefix", prefix,
        "--out", str(tmp_path / "out"), "--notebooks", str(folder),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if ".ipynb" in line}
    assert sorted(rows) == sorted(path.name for path in folder.glob("*.ipynb")), result.stdout
    assert "FAILED" in rows[FAILING] and "injected failure" in rows[FAILING]
    others = [line for name, line in rows.items() if name != FAILING]
    assert all(line.split()[1] == "ok" for line in others), result.stdout
    assert (tmp_path / "out" / FAILING).exists()
    assert "removed " in result.stdout and "removed 0 " not in result.stdout  # chapter 10's
    client = buckets.client_for("server")
    left = [b["name"] for b in buckets.list_buckets(client) if b["name"].startswith(prefix)]
    assert left == []
