"""Write a notebook from a list of cells: ``md(...)`` and ``code(...)``, with stable cell ids.

Used once to create a notebook; after that the .ipynb is the source (edit it in Jupyter) and
``bash tasks.sh outputs`` refreshes its outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell."""
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    """A code cell, with tags such as ``parameters`` or ``raises-exception``."""
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def write(path: str | Path, cells: list[nbformat.NotebookNode], **s3lab: object) -> None:
    """Write the notebook; ``s3lab`` metadata (e.g. backends=["server"]) steers the tests."""
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    if s3lab:
        nb.metadata["s3lab"] = s3lab
    stem = Path(path).stem
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"{stem[:20]}-{number:02d}"
    nbformat.write(nb, str(path))
    print(f"wrote {path}", file=sys.stderr)
