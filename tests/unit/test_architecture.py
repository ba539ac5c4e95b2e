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


# --- where requests go is read in one place -------------------------------------------------------

#: The variables that say where requests go: only the resolver reads them (settings names them).
WHERE = re.compile(r"(S3LAB_BACKEND|S3LAB_PROFILE|AWS_ENDPOINT_URL\w*)")
RESOLVER = {"backends.py", "settings.py"}


def _settings_read(node: ast.AST) -> bool:
    """``settings.read()`` (or ``read()`` imported from it), with or without an env."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        return (
            func.attr == "read" and isinstance(func.value, ast.Name) and func.value.id == "settings"
        )
    return isinstance(func, ast.Name) and func.id == "read"


def reads_of_where(source: str) -> list[str]:
    """Each place ``source`` reads where requests go, as ``line N: what``.

    A read is a variable's name (a string that is exactly ``S3LAB_BACKEND``, ``S3LAB_PROFILE``
    or an ``AWS_ENDPOINT_URL*``) anywhere but where it is written or removed (a dict's key, an
    assignment's target, a ``pop`` whose value is dropped), or the ``backend`` or ``profile``
    of ``settings.read()``. A name kept in a tuple and looked up later is a read too.
    """
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _settings_read(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if not WHERE.fullmatch(node.value):
                continue
            parent = parents.get(node)
            if isinstance(parent, ast.Dict) and node in parent.keys:
                continue  # {"AWS_ENDPOINT_URL": ...}: what a child or the aws command gets
            if isinstance(parent, ast.Subscript) and not isinstance(parent.ctx, ast.Load):
                continue  # env["S3LAB_BACKEND"] = ... or del env[...]
            if (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Attribute)
                and parent.func.attr == "pop"
                and isinstance(parents.get(parent), ast.Expr)
            ):
                continue  # env.pop("S3LAB_BACKEND"): removed, not read
            found.append(f"line {node.lineno}: {node.value}")
        elif isinstance(node, ast.Attribute) and node.attr in ("backend", "profile"):
            value = node.value
            if _settings_read(value) or (isinstance(value, ast.Name) and value.id in bound):
                found.append(f"line {node.lineno}: settings' {node.attr}")
    return found


def test_the_read_finder_finds_planted_reads() -> None:
    """Every way of reading the switch that the test below must catch, and what it must not."""
    planted = {
        'os.environ.get("S3LAB_BACKEND")': 1,
        'os.environ["AWS_ENDPOINT_URL"]': 1,
        'os.getenv("S3LAB_PROFILE")': 1,
        'for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):\n    os.environ.get(name)': 2,
        '"AWS_ENDPOINT_URL_STS" in os.environ': 1,
        "settings.read().backend": 1,
        "found = settings.read(env)\nfound.profile": 1,
        'wanted = env.pop("S3LAB_BACKEND")': 1,
    }
    for source, count in planted.items():
        assert len(reads_of_where(source)) == count, source
    harmless = [
        '{"AWS_ENDPOINT_URL": url, "S3LAB_BACKEND": name}',
        'env["S3LAB_BACKEND"] = name',
        'env.pop("S3LAB_BACKEND")',
        'print("export S3LAB_BACKEND=class")',
        "settings.read().home",
        "box.backend",
    ]
    for source in harmless:
        assert reads_of_where(source) == [], source


def test_only_the_resolver_reads_where_requests_go() -> None:
    """``backends.resolve`` decides where requests go; every other module is handed a Backend.

    ``settings`` names the variables and ``backends`` reads them; anywhere else, reading
    ``S3LAB_BACKEND``, ``S3LAB_PROFILE`` or ``AWS_ENDPOINT_URL*`` would be a second rule.
    """
    offenders = {
        str(p.relative_to(PACKAGE)): found
        for p in sources()
        if p.relative_to(PACKAGE).as_posix() not in RESOLVER
        and (found := reads_of_where(p.read_text()))
    }
    assert not offenders
    assert len(sources()) > 30  # the subpackages' modules are looked at too
