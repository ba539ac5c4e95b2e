"""The site builds from executed notebooks, and no page or file leaks a key.

The build runs jupyter-book as `bash tasks.sh book` does (warnings are errors), on the
sandboxes this test session started, into a temporary folder (tests/support/site.py). It
executes one notebook; the others' stored outputs are the ones nbval checks in the same run.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.support.secrets import find_keys
from tests.support.site import EXECUTED

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_site_has_a_page_per_notebook_with_this_runs_outputs(site: Path) -> None:
    assert (site / "index.html").exists()
    for notebook in NOTEBOOKS:
        page = site / "notebooks" / f"{notebook.stem}.html"
        assert page.exists(), f"no page for {notebook.name}"
        html = page.read_text()
        assert "cell_output" in html, f"{page.name} shows no outputs"


def test_the_build_executed_its_notebook_on_the_sandbox_and_showed_the_others_stored(
    site: Path,
) -> None:
    log = (site.parent.parent / "build.log").read_text()
    assert f"{EXECUTED}: Executed notebook in" in log
    for notebook in NOTEBOOKS:
        if not str(notebook).endswith(EXECUTED):
            assert f"{notebook.name}: Excluded from execution by pattern" in log, notebook.name


def test_first_bucket_page_shows_real_aws_output(site: Path) -> None:
    html = (site / "notebooks" / "10_first_bucket.html").read_text()
    assert "make_bucket: s3lab-first-" in html
    assert "remove_bucket: s3lab-first-" in html


def test_no_key_in_built_pages(site: Path) -> None:
    leaks = {
        str(p.relative_to(site)): find_keys(p.read_text(errors="replace"))
        for p in site.rglob("*.html")
    }
    assert not {k: v for k, v in leaks.items() if v}


def test_no_key_in_notebook_outputs() -> None:
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        outputs = [c.get("outputs", []) for c in nb.cells if c.cell_type == "code"]
        assert not find_keys(json.dumps(outputs)), path.name


def test_no_output_depends_on_the_readers_shell() -> None:
    """`!cmd` runs in the reader's $SHELL, so an error it prints names that shell.

    CI's shell is /usr/bin/sh (dash), a laptop's is often /bin/bash: such an output can never
    match on both. A cell that shows a shell's error runs it as `bash -c '...'` instead.
    """
    shell_error = re.compile(r"^/\S*/[a-z]*sh: ", re.MULTILINE)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for n, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                text = str(output.get("text", ""))
                assert not shell_error.search(text), f"{path.name} cell {n}: {text[:120]!r}"


def _tracked_files() -> list[Path]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if done.returncode != 0:
        print("not a git work tree: scanning every file instead of the tracked ones")
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file()
            and ".venv" not in p.parts
            and "_build" not in p.parts
            and ".git" not in p.parts
        ]
    return [ROOT / name for name in done.stdout.decode().split("\0") if name]


def test_no_key_in_tracked_files() -> None:
    leaks = {}
    for path in _tracked_files():
        if path.is_file():
            found = find_keys(path.read_text(errors="replace"))
            if found:
                leaks[str(path.relative_to(ROOT))] = found
    assert not leaks


@pytest.mark.parametrize(
    "text",
    [
        "aws_access_key_id = AKIA" + "Q3EGRIOEXAMPLE7Z",
        "export AWS_SECRET_ACCESS_KEY=" + "Zk7x/9Qa" * 5,
        '{"SecretAccessKey": "' + "aB3" * 13 + 'x"}',
    ],
)
def test_guard_finds_planted_keys(text: str) -> None:
    assert find_keys(text)


def test_guard_allows_the_documented_fake_keys_and_hashes() -> None:
    from s3lab.sandbox import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

    assert not find_keys(f"{FAKE_ACCESS_KEY_ID} {FAKE_SECRET_ACCESS_KEY}")
    assert not find_keys("commit 0cabbd76e8faa4e4aa0cabbd76e8faa4e4aa0cab")  # hex, not a key
