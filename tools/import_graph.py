"""The import graph of the first-party packages, and its cycles.

    python tools/import_graph.py            # the graph, one ``module -> imports`` line each
    python tools/import_graph.py --cycles   # only the cycles; exit 1 when there is one

Every ``.py`` file under the packages (default: tune_app, trainables, pruning, analysis,
search_spaces) is read with ``ast``, never imported. Each import of a first-party module is
an edge, of one of three kinds:

* module level: run when the module is imported (top level, class bodies, module-level
  ``if``/``try`` blocks);
* in functions: run when the function is called (a deferred import);
* type only: under ``if TYPE_CHECKING:``, never run.

A cycle counts only among module-level edges: a deferred or type-only import cannot fail
half-way through importing a module. ``import a.b.c`` and ``from a.b import c`` (``c`` a
module) are edges to ``a.b.c``; ``from a.b import name`` is an edge to ``a.b``.

Graph lines: ``mod -> a, b`` (module level), ``mod -> (in functions) c`` and
``mod -> (type only) d``; then one summary line. Exit 0, or 1 with ``--cycles`` when a cycle
exists (each printed as ``cycle: a -> b -> a``)."""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tune_app", "trainables", "pruning", "analysis", "search_spaces")
KINDS = ("module", "function", "type")
LABELS = {"module": "", "function": "(in functions) ", "type": "(type only) "}


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """{dotted module name: file} for every ``.py`` file of the packages."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement below ``node`` with its kind; a function body makes everything
    in it ``function``, an ``if TYPE_CHECKING:`` body ``type`` (unless already deferred)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, kind
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(child, "function")
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and kind == "module":
            yield from _imports(ast.Module(body=child.body, type_ignores=[]), "type")
            yield from _imports(ast.Module(body=child.orelse, type_ignores=[]), kind)
        else:
            yield from _imports(child, kind)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The first-party module ``name`` names, or its nearest first-party parent; None when
    it is not first-party."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _targets(stmt: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: dict[str, Path]) -> Iterator[str]:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            target = _resolve(alias.name, modules)
            if target is not None:
                yield target
        return
    base = stmt.module or ""
    if stmt.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (stmt.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in stmt.names:
        submodule = f"{base}.{alias.name}" if base else alias.name
        target = submodule if submodule in modules else _resolve(base, modules)
        if target is not None:
            yield target


def build_graph(modules: dict[str, Path]) -> dict[str, dict[str, set[str]]]:
    """{module: {kind: {imported first-party modules}}}; an import of itself is left out."""
    graph: dict[str, dict[str, set[str]]] = {}
    for module, path in modules.items():
        edges: dict[str, set[str]] = {kind: set() for kind in KINDS}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for stmt, kind in _imports(tree, "module"):
            edges[kind].update(t for t in _targets(stmt, module, is_package, modules)
                               if t != module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, set[str]]],
           kinds: tuple[str, ...] = ("module",)) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component of the graph of
    ``kinds`` imports (default: module level) that has one, found with Tarjan's algorithm
    (iteratively)."""
    edges = {m: sorted(set().union(*(e[k] for k in kinds))) for m, e in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return [_cycle_in(component, edges) for component in sorted(components)]


def _cycle_in(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in edges[node]:
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child in members and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start, start]  # not reached: a component of two or more has a cycle


def summary(graph: dict[str, dict[str, set[str]]], found: list[list[str]],
            runtime: bool = False) -> str:
    count = {kind: sum(len(e[kind]) for e in graph.values()) for kind in KINDS}
    among = "all run-time imports (module level and in functions)" if runtime \
        else "module-level imports"
    return (f"{len(graph)} modules; {count['module']} module-level import edges, "
            f"{count['function']} in functions, {count['type']} type only; "
            f"{len(found)} cycle(s) among {among}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=list(PACKAGES),
                        help=f"top-level packages to read (default {' '.join(PACKAGES)})")
    parser.add_argument("--cycles", action="store_true",
                        help="print only the cycles among module-level imports; exit 1 when "
                        "there is one")
    parser.add_argument("--runtime", action="store_true",
                        help="count imports inside functions too when looking for cycles (a "
                        "deferred import still ties the modules together)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    graph = build_graph(module_files(args.root, tuple(args.packages)))
    found = cycles(graph, ("module", "function") if args.runtime else ("module",))
    if args.cycles:
        for cycle in found:
            print("cycle: " + " -> ".join(cycle))
    else:
        for module in sorted(graph):
            for kind in KINDS:
                if graph[module][kind]:
                    targets = ", ".join(sorted(graph[module][kind]))
                    print(f"{module} -> {LABELS[kind]}{targets}")
    print(summary(graph, found, args.runtime))
    return 1 if args.cycles and found else 0


if __name__ == "__main__":
    sys.exit(main())
