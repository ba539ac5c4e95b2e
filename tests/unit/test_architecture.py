"""The package keeps the shape a newcomer can see at a glance: no import cycle, one reader of
``S3LAB_*`` variables, one printer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "s3lab"


def node_of(path: Path) -> str:
    """A module's dotted name below s3lab (``sandbox``, ``sandbox.ceph``); ``cli/`` is one node.

    A package's ``__init__`` is its main module (``sandbox/__init__.py`` is ``sandbox``).
    """
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[0] == "cli":
        return "cli"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "__init__"


def sources() -> list[Path]:
    """Every module of the package, in subpackages too."""
    return sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """The s3lab modules a file imports, at the top or inside functions."""
    modules = {node_of(p) for p in sources()}

    def known(dotted: str) -> str | None:
        name = "cli" if dotted.split(".")[0] == "cli" else dotted
        return name if name in modules else None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "s3lab"
        ):
            below = node.module.removeprefix("s3lab").removeprefix(".")
            for alias in node.names:  # `from s3lab.mount import tools`: the submodule, if it is one
                name = known(f"{below}.{alias.name}" if below else alias.name) or known(below)
                if name:
                    found.add(name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("s3lab.") and (name := known(a.name.removeprefix("s3lab."))):
                    found.add(name)
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


def test_every_job_is_a_package_mirroring_the_command() -> None:
    """``s3lab <job>`` is ``cli/<job>.py``; the library's code for it is the package ``<job>/``."""
    jobs = {"sandbox", "configure", "buckets", "install", "mount", "classroom"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"cli"}
    assert packages == jobs
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert flat <= {
        "settings",
        "errors",
        "processes",
        "clients",
        "backends",
        "checks",
        "notebooks",
        "statefiles",
    }


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_s3lab_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in sources():
        if path != PACKAGE / "__init__.py":
            graph.setdefault(node_of(path), set()).update(imports_of(path))
    assert len(graph) > 30, sorted(graph)  # the subpackages' modules are in the graph
    assert "sandbox.ceph" in graph["sandbox"] or "sandbox" in graph["sandbox.ceph"]
    assert find_cycle(graph) == []


def test_only_settings_reads_s3lab_variables() -> None:
    reads = re.compile(r"environ(?:\.get)?[\[(]\s*f?[\"']S3LAB_")
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in sources()
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
        str(p.relative_to(PACKAGE))
        for p in sources()
        if p.relative_to(PACKAGE).parts[0] != "cli" and printing.search(p.read_text())
    ]
    assert not offenders
