"""No import cycle between modules of FairNAD's packages.

The graph is grimp's (the library under import-linter) over ``fairnad``, ``graph``, ``agents``,
``fairnad_tools`` and ``knowledge``: every import statement counts, at module level, inside a
function or under ``TYPE_CHECKING``, and a package's ``__init__`` re-exports are edges of that
package. A cycle is a strongly connected set of modules; each is reported with the import lines
that close it. Cycles are checked per scope: inside each package, and across packages, so a
cycle in one package does not hide or excuse one in another.
"""

from __future__ import annotations

import functools

import grimp
import pytest

PACKAGES = ("fairnad", "graph", "agents", "fairnad_tools", "knowledge")
SCOPES = (*PACKAGES, "across packages")


@functools.cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself)."""
    adjacency = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in adjacency:  # Tarjan's algorithm, iterative (no recursion limit)
        if root in index:
            continue
        work = [(root, iter(adjacency[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(adjacency[child])))
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
                if len(component) > 1 or node in adjacency[node]:
                    found.append(sorted(component))
    return found


def _scope(component: list[str]) -> str:
    roots = {m.split(".")[0] for m in component}
    return roots.pop() if len(roots) == 1 else "across packages"


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    members = set(component)
    lines = [f"cycle between {', '.join(component)}:"]
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"  {importer} -> {imported} (line {detail['line_number']}: {detail['line_contents']})")
    return "\n".join(lines)


@pytest.mark.parametrize("scope", SCOPES)
def test_no_import_cycle(scope):
    graph = _graph()
    cycles = [c for c in _cycles(graph) if _scope(c) == scope]
    assert not cycles, "\n".join(_describe(graph, c) for c in cycles)


def test_the_graph_counts_imports_inside_functions():
    # arch.budget imports the wiring inside measure() only; the graph must see it
    assert _graph().direct_import_exists(importer="fairnad_tools.arch.budget", imported="fairnad_tools.arch.wiring")


def test_a_cycle_is_found_and_named():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b", line_number=3, line_contents="from pkg import b")
    graph.add_import(importer="pkg.b", imported="pkg.a", line_number=9, line_contents="from pkg import a")
    graph.add_import(importer="pkg.c", imported="pkg.a", line_number=1, line_contents="import pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]
    assert "pkg.b -> pkg.a (line 9: from pkg import a)" in _describe(graph, ["pkg.a", "pkg.b"])


def test_the_child_process_helpers_are_a_leaf_of_isolation():
    imported = _graph().find_modules_directly_imported_by("fairnad_tools.isolation.proc")
    assert not {m for m in imported if m.startswith("fairnad_tools.isolation")}, imported
