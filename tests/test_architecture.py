"""The shape of the package: imports point down, no cycle, no private name shared, short modules.

Layers, lowest first (a module may import from its own layer or a lower one):

0. ``core/`` (pure computation), ``errors``, ``defaults``
1. ``bids/``, ``io``, ``parallel``
2. ``models/``, ``report/`` (rendering: records in, HTML out)
3. ``steps/`` (one verb each; a step renders its own report through ``report/``)
4. ``app/`` (the BIDS-App and the SLURM writer, built from steps)
5. ``cli/`` and ``__main__``
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import scvbench

ROOT = Path(scvbench.__file__).parent
MAX_LINES = 400
LAYERS = [
    ("scvbench.core", 0),
    ("scvbench.errors", 0),
    ("scvbench.defaults", 0),
    ("scvbench.results", 0),
    ("scvbench.bids", 1),
    ("scvbench.io", 1),
    ("scvbench.parallel", 1),
    ("scvbench.workspace", 1),
    ("scvbench.models", 2),
    ("scvbench.report", 2),
    ("scvbench.steps", 3),
    ("scvbench.app", 4),
    ("scvbench.cli", 5),
    ("scvbench.__main__", 5),
]
# Imports allowed inside functions: heavy optional dependencies, loaded only when used.
HEAVY = (
    "torch",
    "monai",
    "matplotlib",
    "statsmodels",
    "onnxruntime",
    "openvino",
    "scvbench.models.",
)


def _modules() -> dict[str, Path]:
    found = {"scvbench": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="scvbench."):
        base = ROOT.joinpath(*info.name.split(".")[1:])
        found[info.name] = base / "__init__.py" if info.ispkg else base.with_suffix(".py")
    return found


MODULES = _modules()


def _layer(module: str) -> int | None:
    if module == "scvbench":
        return 0
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def _imports(module: str, path: Path) -> list[tuple[str, list[str], bool, int]]:
    """(target module, names, inside a function, line) for every import of a scvbench module."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            target, names = "", []
            for alias in node.names:
                found.append((alias.name, [], node.col_offset > 0, node.lineno))
            continue
        else:
            continue
        found.append((target, names, node.col_offset > 0, node.lineno))
    return found


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module, path in MODULES.items():
        for target, names, _, _ in _imports(module, path):
            if not target.startswith("scvbench"):
                continue
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for name in submodules or [target]:
                if name != module:
                    graph[module].add(name)
    return graph


def test_every_module_imports():
    for name in MODULES:
        if name != "scvbench.__main__":
            importlib.import_module(name)


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_imports_point_downward():
    upward = [
        f"{source} -> {target}"
        for source, targets in _edges().items()
        for target in targets
        if _layer(target) > _layer(source)
    ]
    assert upward == []


def test_no_import_cycle():
    graph = _edges()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_private_name_crosses_modules():
    crossing = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        imported = {}
        for target, names, _, line in _imports(module, path):
            if target.startswith("scvbench"):
                crossing += [
                    f"{module}:{line} {target}.{n}"
                    for n in names
                    if n.startswith("_") and not n.startswith("__")
                ]
                for n in names:
                    if f"{target}.{n}" in MODULES:
                        imported[n] = f"{target}.{n}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                crossing.append(f"{module}:{node.lineno} {imported[node.value.id]}.{node.attr}")
    assert crossing == []


def test_imports_inside_functions_only_for_heavy_dependencies():
    inner = [
        f"{module}:{line} {target}"
        for module, path in MODULES.items()
        for target, _, nested, line in _imports(module, path)
        if nested and not target.startswith(HEAVY) and target not in ("torch", "monai")
    ]
    assert inner == []


def test_nested_imports_are_stated():
    """A module that imports inside functions says so once, near its imports."""
    silent = [
        module
        for module, path in MODULES.items()
        if any(nested for _, _, nested, _ in _imports(module, path))
        and "imported inside the functions" not in path.read_text()
    ]
    assert silent == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_short(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def _undocumented(prefix: str) -> list[str]:
    """Public functions under ``prefix`` without numpydoc Parameters (when they take any) and
    Returns sections."""
    found = []
    for module, path in MODULES.items():
        if not module.startswith(prefix):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node) or ""
                takes = node.args.args or node.args.kwonlyargs
                if (takes and "Parameters\n---" not in doc) or not (
                    "Returns\n---" in doc or "Yields\n---" in doc
                ):
                    found.append(f"{module}.{node.name}")
    return found


@pytest.mark.parametrize("layer", ["scvbench.core", "scvbench.steps"])
def test_public_functions_document_parameters_and_returns(layer):
    assert _undocumented(layer) == []
