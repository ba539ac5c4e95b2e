"""s3lab notebooks run: every notebook, a table, and no bucket left behind, even on a failure.

One run over three of the book's notebooks on the ``server`` sandbox, with one made to fail
midway, after it made a bucket and put an object in it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from s3lab import backends, buckets, notebooks
from tests.support import cli

FAILING = "10_first_bucket.ipynb"
#: The run's notebooks: one made to fail, one that runs, one that rehearses on Ceph only. The
#: policy test (tests/integration/book/test_policy.py) runs every notebook of the book the same way.
CHOSEN = (FAILING, "20_install_awscli.ipynb", "85_kopah.ipynb")


def with_a_failure(folder: Path) -> Path:
    """A copy of three of the book's notebooks, where chapter 10 fails after its first upload."""
    copy = folder / "notebooks"
    copy.mkdir()
    for name in CHOSEN:
        shutil.copy(notebooks.NOTEBOOKS / name, copy / name)
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
        skip = f"would skip {name}: rehearses on the ceph sandbox only"
        assert (skip if name == "85_kopah.ipynb" else f"would run {name} on aws") in result.stdout
    assert "at most $" in result.stdout


def test_every_bucket_name_comes_from_the_prefix_parameter() -> None:
    """Cleanup finds a run's buckets by name: each notebook takes bucket_prefix if it makes any."""
    for path in notebooks.notebooks_in():
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
        if "unique_name(" in code or " mb " in code or "make_bucket" in code:
            assert "bucket_prefix" in notebooks.parameters(path), path.name
        assert 'unique_name("' not in code, f"{path.name} names a bucket from a fixed prefix"
        assert "s3://s3lab" not in code, f"{path.name} names a fixed bucket"


def test_run_on_server_reports_and_cleans_up_after_a_failure(
    tmp_path: Path, server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where this process, and so the run, makes temporary files: chapter 10 stops before its
    # last cell, which removes its scratch folder, so the run itself must.
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
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
    assert rows["20_install_awscli.ipynb"].split()[1] == "ok", result.stdout
    assert rows["85_kopah.ipynb"].split()[1] == "skipped", result.stdout
    assert (tmp_path / "out" / FAILING).exists()
    assert "removed " in result.stdout and "removed 0 " not in result.stdout  # chapter 10's
    client = buckets.client_for(backends.resolve("server"))
    left = [b["name"] for b in buckets.list_buckets(client) if b["name"].startswith(prefix)]
    assert left == []
    assert sorted(path.name for path in temp.iterdir()) == [], "the run left scratch folders"


def test_a_scratch_folder_with_a_live_mount_is_kept_not_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting files through a mount deletes the bucket's objects: such a folder stays, named."""
    from s3lab import mount

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kept: list[str] = []
    with notebooks.kernel_scratch("60_mount.ipynb", kept) as folder:
        assert folder.parent == tmp_path and os.environ["TMPDIR"] == str(folder)
        (folder / "bucket").mkdir()
        (folder / "bucket" / "object.txt").write_text("through the mount")
        monkeypatch.setattr(mount, "unmount_all", lambda under: ["device is busy"])
        monkeypatch.setattr(mount, "fuse_mounts", lambda: {str(folder / "bucket"): ("s", "fuse")})
    assert kept == [str(folder)]
    assert (folder / "bucket" / "object.txt").read_text() == "through the mount"
    monkeypatch.undo()
    with notebooks.kernel_scratch("60_mount.ipynb", kept) as second:
        (second / "left.txt").write_text("a failed notebook's")
    assert not second.exists() and kept == [str(folder)]
