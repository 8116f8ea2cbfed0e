"""The import contract of harness/, read from the source with ast (every import, lazy ones included):

    pytest → engine → results ← report, and commands (and the package root) may import any layer;
    results imports only the standard library, pydantic and harness.errors;
    only harness/pytest/ imports pytest;
    no import circles.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
LAYERS = ("pytest", "engine", "results", "report", "commands")
# what each layer may import from harness besides itself and harness.errors
ALLOWED = {
    "pytest": {"engine", "results", "report"},
    "engine": {"results"},
    "results": set(),
    "report": {"results"},
    "commands": {"pytest", "engine", "results", "report", ""},
    "": set(LAYERS),  # the package root: harness/__init__.py and __main__.py
}
RESULTS_THIRD_PARTY = {"pydantic", "typing_extensions"}  # pydantic's TypedDict on Python < 3.12


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULE_PATHS = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, by absolute name: ``from x import y`` counts x.y when y is a
    module of harness, else x (and x.y, harmless for a name that is no module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            if not all(name in MODULE_PATHS for name in submodules):
                found.append(module)
            found += submodules
    return found


GRAPH = {
    name: sorted({target for target in _imports(path) if target in MODULE_PATHS and target != name})
    for name, path in MODULE_PATHS.items()
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""


def test_layers_import_only_the_layers_below_them():
    wrong = [
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if target != "harness.errors"
        and _layer(target) != _layer(source)
        and _layer(target) not in ALLOWED[_layer(source)]
    ]
    assert wrong == []


def test_results_import_only_the_standard_library_pydantic_and_errors():
    wrong = [
        f"{name} imports {target}"
        for name, path in MODULE_PATHS.items()
        if _layer(name) == "results"
        for target in _imports(path)
        if not (
            target.split(".")[0] in sys.stdlib_module_names
            or target.split(".")[0] in RESULTS_THIRD_PARTY
            or target.startswith("harness.errors")
            or target.startswith("harness.results")
            or target == "harness"  # ``from .. import errors``
        )
    ]
    assert wrong == []


def test_only_the_pytest_layer_imports_pytest():
    wrong = [
        name
        for name, path in MODULE_PATHS.items()
        if _layer(name) != "pytest" and any(t.split(".")[0] in ("pytest", "_pytest") for t in _imports(path))
    ]
    assert wrong == []


def _cycles() -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
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

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert _cycles() == []


@pytest.mark.parametrize("source, target", [("harness.engine.suite", "harness.engine.approaches")])
def test_the_graph_sees_relative_imports(source, target):
    assert target in GRAPH[source]
