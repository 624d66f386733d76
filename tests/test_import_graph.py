"""The modules of `python/fused` import each other without a cycle.

The graph counts every import statement, including those inside functions (they run too,
only later); it leaves out imports under `if TYPE_CHECKING:` (they never run). `fused._native`
(the compiled extension) is a leaf. `from fused import X` is an edge to the submodule
`fused.X` when X is one, and to the package `fused` otherwise.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "fused"
NATIVE = "fused._native"


def _modules(root: Path) -> dict[str, Path]:
    mods = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node that can run (skipping `if TYPE_CHECKING:` bodies)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    mods = _modules(root)
    known = set(mods) | {NATIVE}
    edges: dict[str, set[str]] = {m: set() for m in known}
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(module, is_package, node)
                subs = [f"{base}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in known]
                if len(targets) < len(subs):
                    targets.append(base)
            for target in targets:
                # `import a.b.c` binds the deepest known module; its parents are packages.
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges[module].add(target)
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
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
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def _describe(component: list[str], edges: dict[str, set[str]]) -> str:
    inside = set(component)
    return "\n".join(f"  {m} -> {', '.join(sorted(edges[m] & inside))}" for m in component)


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "fused"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from fused import a\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from fused import _native\n"
        "if TYPE_CHECKING:\n    from fused.c import C\n"
        "def f():\n    from .b import g\n"
    )
    (pkg / "b.py").write_text("import fused\n")
    (pkg / "c.py").write_text("from fused.a import f\n")
    edges = import_graph(pkg)
    assert edges["fused"] == {"fused.a"}
    assert edges["fused.a"] == {"fused._native", "fused.b"}
    assert edges["fused.b"] == {"fused"}
    assert edges["fused.c"] == {"fused.a"}
    assert strongly_connected(edges) == [["fused", "fused.a", "fused.b"]]


def test_sdk_modules_import_each_other_without_a_cycle():
    edges = import_graph()
    assert "fused._udf" in edges and edges["fused"], "the graph found no SDK modules"
    cycles = strongly_connected(edges)
    assert not cycles, "import cycles in python/fused:\n" + "\n\n".join(
        _describe(c, edges) for c in cycles
    )


if __name__ == "__main__":
    graph = import_graph()
    for component in strongly_connected(graph):
        print(len(component), "modules:")
        print(_describe(component, graph))
