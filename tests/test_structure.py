"""The house's shape, from the real import graph (issue 17).

The graph is read with :mod:`ast` from the files themselves, not by importing them: every
``import`` and ``from ... import`` counts, at module level, inside functions and under
``if TYPE_CHECKING:`` alike (a type-only import still ties two modules: either file's reader must
know the other). Relative imports resolve against the importing module's package. An import of a
package counts as an import of its ``__init__``; ``from package import name`` counts the submodule
``package.name`` when there is one, else the package.

- no import cycle anywhere in ``plugins/``, ``sandbox/`` and ``tools/``;
- nothing under ``plugins/`` imports ``sandbox`` or ``bench``, directly or through another module;
- no file under ``plugins/`` is longer than ``MAX_LINES``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Where each tree's top-level packages live (PYTHONPATH=plugins:.).
ROOTS: dict[str, Path] = {"plugins": REPO / "plugins", "sandbox": REPO, "tools": REPO, "bench": REPO}
TREES: dict[str, Path] = {
    "plugins": REPO / "plugins",
    "sandbox": REPO / "sandbox",
    "tools": REPO / "tools",
    "bench": REPO / "bench",
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(tree: Path) -> Iterator[Path]:
    for path in sorted(tree.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def all_modules() -> dict[str, Path]:
    """Every module of the four trees by dotted name."""
    modules: dict[str, Path] = {}
    for tree, root in ROOTS.items():
        for path in python_files(TREES[tree]):
            modules[module_name(path, root)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest known module that ``name`` is or lies in (``a.b.c`` -> ``a.b`` if only that exists)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    """Every import in the file that names a module of ours, with its line."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    edges: dict[str, Edge] = {}  # one edge per imported module, at its first line
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module and resolved not in edges:
                edges[resolved] = Edge(module, resolved, node.lineno)
    return sorted(edges.values(), key=lambda e: e.line)


def import_graph() -> dict[str, list[Edge]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, list[Edge]], within: tuple[str, ...]) -> list[list[str]]:
    """The strongly connected components (Tarjan) of more than one module, or a module importing itself."""
    nodes = [n for n in graph if n.split(".")[0] in within]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            target = edge.target
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], graph: dict[str, list[Edge]]) -> str:
    members = set(component)
    lines = [f"  {e.source} -> {e.target} (line {e.line})"
             for name in component for e in graph[name] if e.target in members]
    return "cycle among " + ", ".join(component) + ":\n" + "\n".join(lines)


# -- the graph reader itself ---------------------------------------------------------------------

def test_the_reader_sees_function_level_relative_and_type_only_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("from .a import thing\nimport os\n")
    modules = {module_name(p, tmp_path): p for p in python_files(pkg)}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert {(e.source, e.target) for edges in graph.values() for e in edges} == {
        ("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")}
    assert cycles(graph, ("pkg",)) == [["pkg.a", "pkg.b", "pkg.c"]]


# -- the house -----------------------------------------------------------------------------------

def test_no_import_cycle_in_plugins_sandbox_or_tools():
    graph = import_graph()
    found = cycles(graph, ("orderflow", "orderflow_plugin", "sandbox", "tools"))
    assert not found, "\n".join(describe(c, graph) for c in found)


def test_production_never_imports_the_sandbox_or_the_benchmarks():
    graph = import_graph()
    production = [name for name, path in all_modules().items() if TREES["plugins"] in path.parents]
    assert production, "no module found under plugins/"
    offending = []
    for start in production:
        seen = {start}
        todo: list[tuple[str, list[str]]] = [(start, [start])]
        while todo:
            name, chain = todo.pop()
            for edge in graph.get(name, []):
                if edge.target in seen:
                    continue
                seen.add(edge.target)
                step = [*chain, edge.target]
                if edge.target.split(".")[0] in ("sandbox", "bench"):
                    offending.append(" -> ".join(step))
                else:
                    todo.append((edge.target, step))
    assert not offending, "plugins/ reaches the sandbox or the benchmarks:\n" + "\n".join(offending)



MAX_LINES = 600  # "files of one job each (a few hundred lines, not a thousand)"


def test_no_production_file_does_several_jobs_by_its_length():
    """A plugins/ file over MAX_LINES is a room doing several jobs (issue 17 split the four that were)."""
    long = {str(p.relative_to(REPO)): n for p in sorted((REPO / "plugins").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
