"""The public API is what the notebooks use, both ways: every s3lab name a notebook reaches is in
``__all__``, and every name in ``__all__`` is reached by some notebook.

A learner reads a notebook and then the function it calls; a name the notebooks rely on that is
not public could be moved or renamed without anyone noticing the book breaks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

import s3lab

ROOT = Path(__file__).resolve().parents[2]
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
            if not stripped.startswith(("!", "%")):
                lines.append(line)
                continue
            # kept as `pass` (it may be an if's body), with the {expressions} IPython evaluates
            exprs = [f"({e})" for e in re.findall(r"{([^{}]+)}", stripped)]
            lines.append(line[: len(line) - len(stripped)] + "; ".join(["pass", *exprs]))
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


def test_every_public_name_is_used_by_a_notebook() -> None:
    used = {name.split(".")[0] for nb in NOTEBOOKS for name in s3lab_names(python_of(nb))}
    unused = sorted(set(s3lab.__all__) - used)
    assert not unused, f"public names no notebook uses (take them out of __init__.pyi): {unused}"


def test_importing_s3lab_imports_no_job() -> None:
    """The stub is read lazily: ``import s3lab`` alone loads none of the jobs' modules."""
    import subprocess
    import sys

    code = "import s3lab, sys; print(sorted(m for m in sys.modules if m.startswith('s3lab.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
