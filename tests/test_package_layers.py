"""The package is drawn as floors (see docs/layout.md): an import goes down or sideways, never up,
and the import graph has no cycle. Read from the source, so a lazy import inside a function counts."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cnnzoo"

# floor of each top-level module or subpackage of cnnzoo
FLOORS = {
    "errors": 0, "files": 0, "reference": 0,
    "layers": 1, "registry": 1,
    "runtime": 2,
    "models": 3,
    "data": 4, "interop": 4,
    "factory": 5, "recipes": 5,
    "analysis": 6, "artifacts": 6,
    "eval": 7, "deploy": 7, "train": 7,
    "experiments": 8,
    "cli": 9, "__main__": 9, "__init__": 9,
}  # fmt: skip


def test_nothing_outside_train_imports_from_it_but_the_experiments_and_the_cli():
    """Training's own modules are its own: what others read back (checkpoints, weights, recipes) lives below it."""
    users = {_unit(m) for m, targets in _imports().items() if _unit(m) != "train" and any(_unit(t) == "train" for t in targets)}
    assert users <= {"experiments", "cli", "__init__"}, f"these import from train/: {sorted(users - {'experiments', 'cli', '__init__'})}"


def _unit(module: str) -> str:
    """'cnnzoo.train.loop' -> 'train'; 'cnnzoo' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, set[str]]:
    """Module name -> the cnnzoo modules it imports (at any depth of its code)."""
    graph = {}
    for file in PACKAGE.rglob("*.py"):
        rel = file.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = name if file.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] == "cnnzoo":
                    # `from . import models` names a module; `from .registry import x` names attributes
                    targets |= {f"{module}.{a.name}" if node.module is None else module for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == "cnnzoo"}
        graph[name] = targets
    return graph


def test_every_module_has_a_floor():
    units = {_unit(m) for m in _imports()}
    assert units <= set(FLOORS), f"give these a floor: {sorted(units - set(FLOORS))}"


def test_no_module_imports_one_above_it():
    upward = []
    for module, targets in _imports().items():
        for target in targets:
            if FLOORS[_unit(target)] > FLOORS[_unit(module)]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that go up a floor: " + ", ".join(sorted(upward))


def test_the_import_graph_has_no_cycle():
    graph = _imports()
    modules = set(graph)

    def resolve(target: str) -> str | None:  # 'cnnzoo.data.bundle.DataOptions' -> 'cnnzoo.data.bundle'
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {m: {t for t in map(resolve, graph[m]) if t and t != m} for m in modules}
    # a package's __init__ re-exports its own modules: those edges are not dependencies between units
    edges = {m: {t for t in ts if not (t.startswith(m + "."))} for m, ts in edges.items()}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in edges[m]:
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(t):] + [m, t]) if t in trail else f"{m} -> {t}")
            if t not in state:
                visit(t, trail + [m])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [])


def test_no_function_is_longer_than_80_lines():
    """A function a reader can hold in view: the CLI's parsers sit beside their handlers, one small function each."""
    long = []
    for file in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{file.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, "split these: " + ", ".join(long)
