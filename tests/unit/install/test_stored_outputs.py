"""The book runs on the AWS CLI v2: no stored output shows v1 (issue 26's "done when")."""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.support import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# aws --version's first word, and s3lab's report of a CLI (doctor, the install plan)
V1 = re.compile(r"aws-cli/1\.|aws-cli 1\.\d+\.\d+|\d+\.\d+\.\d+ \(v1\)")


def outputs(path: object) -> str:
    nb = nbformat.read(str(path), as_version=4)
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(texts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_stored_output_shows_the_aws_cli_v1(path: object) -> None:
    found = V1.findall(outputs(path))
    assert not found, f"re-execute it with v2 on PATH (bash tasks.sh outputs): {found}"


def test_the_scan_finds_v1() -> None:
    for text in ("aws-cli/1.46.3 Python/3.11", "aws-cli 1.46.3 (v1)", "version 1.46.3 (v1) at"):
        assert V1.search(text), text
    assert not V1.search("aws-cli/2.36.7 Python/3.11 ... aws-cli 2.36.7 (v2)")
