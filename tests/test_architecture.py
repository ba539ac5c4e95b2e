"""The package keeps the shape a newcomer can see at a glance: no import cycle, one reader of
``S3LAB_*`` variables, one printer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "s3lab"


def node_of(path: Path) -> str:
    """A module's name in the graph: a subpackage (the command line's ``cli/``) is one node."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def sources() -> list[Path]:
    """Every module of the package, in subpackages too."""
    return sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """The s3lab modules a file imports, at the top or inside functions."""
    modules = {node_of(p) for p in sources()}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "s3lab":
                found |= {alias.name for alias in node.names if alias.name in modules}
            elif node.module.startswith("s3lab."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("s3lab.")}
    return found - {node_of(path), "__init__"}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (first == last), or [] when there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return []

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_s3lab_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in sources():
        if path.parent != PACKAGE or path.stem != "__init__":
            graph.setdefault(node_of(path), set()).update(imports_of(path))
    assert find_cycle(graph) == []


def test_only_settings_reads_s3lab_variables() -> None:
    reads = re.compile(r"environ(?:\.get)?[\[(]\s*f?[\"']S3LAB_")
    offenders = [
        p.name
        for p in PACKAGE.glob("*.py")
        if p.name != "settings.py" and reads.search(p.read_text())
    ]
    assert not offenders


def test_modules_are_read_in_one_sitting() -> None:
    """About 500 lines at most; a module of data rows may be longer (none is, today)."""
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in sources()
        if (n := len(p.read_text().splitlines())) > 560
    }
    assert not long


def test_only_the_command_line_prints() -> None:
    printing = re.compile(r"^\s*print\(", re.MULTILINE)
    offenders = [
        p.name
        for p in PACKAGE.glob("*.py")
        if p.name != "cli.py" and printing.search(p.read_text())
    ]
    assert not offenders
