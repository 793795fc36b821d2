"""The package's shape, as ARCHITECTURE.md draws it, checked on every run.

- no import cycle between modules, and none between top-level units (packages and loose modules);
- imports point down the flow: a unit imports only units of its own floor or below;
- no module over 400 lines, and at most 8 loose modules at the top of the package.

Function-level imports count like module-level ones: a lazy import does not hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vscbench

PACKAGE = Path(vscbench.__file__).parent

#: The floors of the flow, lowest first. A unit may import units on its own floor or below,
#: never above; imports on one floor must not form a loop (checked apart).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("schema", "safe_text", "images", "jsonl", "locations"),
    ("benchmarks", "render", "fetch", "models", "methods", "store", "testing"),
    ("engine", "judges", "scoring"),
    ("report", "experiment"),
    ("workflows", "inspect"),
    ("cli",),
)
MAX_LINES = 400
MAX_LOOSE_MODULES = 8


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every import of a vscbench module by another, at any depth (function-level imports too)."""
    modules = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def unit_of(module: str) -> str:
    """``vscbench.engine.runner`` -> ``engine``; ``vscbench.schema`` -> ``schema``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {unit_of(name): set() for name in graph}
    for name, targets in graph.items():
        for target in targets:
            if unit_of(target) != unit_of(name) and unit_of(target) != "__init__":
                units[unit_of(name)].add(unit_of(target))
    return units


def floor_of(unit: str) -> int:
    for level, units in enumerate(FLOORS):
        if unit in units:
            return level
    raise AssertionError(f"top-level unit {unit!r} is on no floor of tests/test_layout.py FLOORS: place it")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each import from a module to one on a higher floor, as ``importer -> imported``."""
    found = []
    for name, targets in sorted(graph.items()):
        if unit_of(name) == "__init__":
            continue
        for target in sorted(targets):
            if unit_of(target) != "__init__" and floor_of(unit_of(target)) > floor_of(unit_of(name)):
                found.append(f"{name} -> {target}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def long_modules(package: Path = PACKAGE, limit: int = MAX_LINES) -> dict[str, int]:
    lengths = {
        _module_name(path, package): len(path.read_text(encoding="utf-8").splitlines())
        for path in package.rglob("*.py")
    }
    return {name: lines for name, lines in sorted(lengths.items()) if lines > limit}


def loose_modules(package: Path = PACKAGE) -> list[str]:
    return sorted(path.stem for path in package.glob("*.py") if path.name != "__init__.py")


def test_no_import_cycles_between_modules():
    assert cycles(import_graph()) == []


def test_no_loop_between_top_level_units():
    assert cycles(unit_graph(import_graph())) == []


def test_imports_point_down_the_flow():
    assert upward_imports(import_graph()) == []


def test_every_unit_has_a_floor():
    for unit in unit_graph(import_graph()):
        if unit != "__init__":
            floor_of(unit)


def test_no_module_over_400_lines():
    assert long_modules() == {}


def test_few_loose_modules_at_the_top():
    loose = loose_modules()
    assert len(loose) <= MAX_LOOSE_MODULES, loose


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_upward_import_is_found():
    graph = {"vscbench.store.runs": {"vscbench.engine.runner"}, "vscbench.engine.runner": {"vscbench.store"}}
    assert upward_imports(graph) == ["vscbench.store.runs -> vscbench.engine.runner"]


def test_long_module_and_loose_module_are_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "big.py").write_text("x = 1\n" * 401)
    for name in ("a", "b"):
        (package / f"{name}.py").write_text("")
    assert long_modules(package) == {"pkg.sub.big": 401}
    assert loose_modules(package) == ["a", "b"]


def test_the_stages_live_where_the_architecture_says():
    for package in ("benchmarks", "render", "fetch", "models", "methods/steering", "engine", "store", "judges",
                    "scoring", "experiment", "workflows", "report", "inspect", "cli"):  # fmt: skip
        assert (PACKAGE / package / "__init__.py").is_file(), package
    for gone in ("data", "utility", "distributed"):
        assert not (PACKAGE / gone).exists(), gone
