"""The rules of the house (docs/architecture.md), checked on the code's own imports.

Every ``import`` and ``from … import`` of every module under src/otelbundle is
read with ``ast`` (function-level and ``TYPE_CHECKING`` imports included: a
cycle hidden in a function is still a cycle), and the graph is checked:
no cycle; ``otelbundle.config`` imports no other part; nothing outside
``otelbundle.cli`` imports it; at most four modules loose at the package root.
That ``otelbundle.yaml`` is opened once at start is counted in
tests/unit/distro/test_read_once.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "otelbundle"
LOOSE_AT_MOST = 4


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py") if "shipped" not in path.parts}


def imported(name: str, path: Path) -> Iterator[str]:
    """The otelbundle modules ``name`` imports (a package's ``__init__`` counts as the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import module` imports the module; `from module import name`, the module
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            targets = submodules if len(submodules) == len(node.names) else [base, *submodules]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                yield target


GRAPH = {name: set(imported(name, path)) for name, path in MODULES.items()}


def test_the_graph_is_read() -> None:
    assert "otelbundle.config.loader" in GRAPH["otelbundle.config.reader"]
    assert "otelbundle.cli.stack.components" in GRAPH["otelbundle.cli.stack.cli"]


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert cycles() == []


def test_a_cycle_would_be_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "otelbundle.config.problems", {"otelbundle.config.loader"})
    # loader -> problems, directly or through what loader imports (substitution does too).
    [cycle] = cycles()
    assert {"otelbundle.config.loader", "otelbundle.config.problems"} <= set(cycle), cycle


def test_config_imports_no_other_part() -> None:
    outside = {
        (name, target)
        for name, targets in GRAPH.items()
        if name == "otelbundle.config" or name.startswith("otelbundle.config.")
        for target in targets
        if not target.startswith("otelbundle.config") and target != "otelbundle.version"
    }
    assert outside == set()


def test_nothing_outside_cli_imports_cli() -> None:
    def in_cli(name: str) -> bool:
        return name == "otelbundle.cli" or name.startswith("otelbundle.cli.")

    assert {(n, t) for n, targets in GRAPH.items() if not in_cli(n) for t in targets if in_cli(t)} == set()


def test_at_most_four_modules_loose_at_the_package_root() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= LOOSE_AT_MOST, loose


def test_the_runtime_rooms_point_down() -> None:
    """sdk/ is below the subsystems: it imports none of alerting, health, scrub or distro."""
    above = ("otelbundle.alerting", "otelbundle.health", "otelbundle.scrub", "otelbundle.distro")
    wrong = {
        (name, target)
        for name, targets in GRAPH.items()
        if name.startswith("otelbundle.sdk")
        for target in targets
        if target.startswith(above)
    }
    assert wrong == set()


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_benchmarks_and_the_harness_do_not_import_the_test_suite() -> None:
    # What benchmarks and tests share lives in harness/; a benchmark that imports tests/ runs
    # whatever the suite's conftest and fixtures pull in, and ties the two together.
    root = PACKAGE.parents[1]
    files = [*(root / "bench").rglob("*.py"), *(root / "harness").rglob("*.py")]
    assert len(files) > 10, files
    offenders = [str(path.relative_to(root)) for path in files if "tests" in _top_level_imports(path)]
    assert offenders == []
