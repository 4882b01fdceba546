"""The library's import graph: no circles, and the layers import only downwards.

The graph is read from the source (``ast``), so it sees every import a module can make: top-level ones,
lazy ones inside functions and ``TYPE_CHECKING`` ones. A lazy import that closes a circle is still a
circle: it only moves the failure from import time to the first call.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "playground"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> list[str]:
    """The playground modules one import statement names (``from pkg import sub`` names ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: climb from this module's package
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    found = []
    for name in names:
        while name not in known and "." in name:  # `import playground.x.y` names module playground.x.y's file
            name = name.rsplit(".", 1)[0]
        if name in known and name != module:
            found.append(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each playground module -> the playground modules it imports anywhere in its source."""
    known = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {
            target
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in _imported(module, path, node, known)
        }
    # The package itself is the public facade: it re-exports everything (lazily), and nothing inside
    # the library may import through it (checked below), so its edges close no real circle.
    graph["playground"] = set()
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_lazy_circle() -> None:
    """The checker itself: a circle closed by a lazy import is found, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_in_the_library() -> None:
    found = cycles(import_graph())
    assert found == [], "import circles (lazy imports included):\n" + "\n".join(" -> ".join(c) for c in found)


def _below(graph: dict[str, set[str]], low: str, high: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} imports {t}" for m, targets in graph.items() if m.startswith(low)
                  for t in targets if t.startswith(high))


@pytest.mark.parametrize(("layer", "above"), [
    ("playground.spec", ("playground.design", "playground.arch", "playground.models", "playground.finetune",
                         "playground.catalog", "playground.ui", "playground.cli")),
    ("playground.design", ("playground.models", "playground.finetune", "playground.catalog", "playground.ui",
                           "playground.cli")),
    ("playground.models", ("playground.finetune", "playground.catalog", "playground.ui", "playground.cli")),
    ("playground.finetune", ("playground.catalog", "playground.ui", "playground.cli")),
])
def test_layers_import_only_downwards(layer: str, above: tuple[str, ...]) -> None:
    assert _below(import_graph(), layer, above) == []


def test_nothing_inside_the_library_imports_through_the_facade() -> None:
    """``from playground import analyze`` inside the library would tie every module to the whole API."""
    known = _modules()
    offenders = []
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "playground" and not node.level:
                offenders += [f"{module}: {a.name}" for a in node.names if f"playground.{a.name}" not in known]
    assert offenders == []


# `playground serve` hands its process to Streamlit's own command line: it launches the server, draws nothing.
STREAMLIT_LAUNCHERS = {"playground.cli.serve"}


def test_only_the_ui_imports_streamlit() -> None:
    offenders = []
    for module, path in _modules().items():
        if module.startswith("playground.ui") or module in STREAMLIT_LAUNCHERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [module for name in names if name.split(".")[0] == "streamlit"]
    assert offenders == []
