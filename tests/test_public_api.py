"""The public API is what the notebooks use: every s3lab name a notebook reaches is in __all__.

A learner reads a notebook and then the function it calls; a name the notebooks rely on that is
not public could be moved or renamed without anyone noticing the book breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

import s3lab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def python_of(notebook: Path) -> str:
    """The notebook's code cells as Python, IPython's ``!`` and ``%`` lines made ``pass``."""
    cells = nbformat.read(notebook, as_version=4).cells
    lines: list[str] = []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            stripped = line.lstrip()
            shell = stripped.startswith(("!", "%"))  # kept as `pass`: it may be an if's body
            lines.append(line[: len(line) - len(stripped)] + "pass" if shell else line)
        lines.append("")
    return "\n".join(lines)


def s3lab_names(source: str) -> set[str]:
    """Every name reached through s3lab: ``s3lab.X``, ``from s3lab import X``, ``s3lab.m.X``.

    Returns dotted paths below the package, e.g. ``{"use", "buckets.NAME_RULES"}``.
    """
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "s3lab"
        ):
            below = node.module.split(".")[1:]
            for alias in node.names:
                found.add(".".join([*below, alias.name]))
        elif isinstance(node, ast.Attribute):
            chain: list[str] = []
            current: ast.expr = node
            while isinstance(current, ast.Attribute):
                chain.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name) and current.id == "s3lab":
                found.add(".".join(reversed(chain)))
    # keep only the outermost reach: "buckets.NAME_RULES" makes "buckets" redundant
    return {name for name in found if not any(o.startswith(name + ".") for o in found)}


def not_public(names: set[str]) -> list[str]:
    """Names whose first part is not in ``s3lab.__all__``, or that reach below a public name."""
    return sorted(n for n in names if n.split(".")[0] not in s3lab.__all__ or "." in n)


def test_the_check_catches_a_private_name() -> None:
    names = s3lab_names("import s3lab\ns3lab.buckets.NAME_RULES\nfrom s3lab import mount\n")
    assert not_public(names) == ["buckets.NAME_RULES", "mount"] or "mount" in s3lab.__all__


def test_every_public_name_exists() -> None:
    missing = [name for name in s3lab.__all__ if not hasattr(s3lab, name)]
    assert not missing, missing


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebooks_call_only_public_names(notebook: Path) -> None:
    bad = not_public(s3lab_names(python_of(notebook)))
    assert not bad, f"{notebook.name} uses s3lab names that are not in s3lab.__all__: {bad}"
