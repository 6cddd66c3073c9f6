"""The trust boundary is the package layout: what runs beside student code (grader/inside/),
what decides points (grader/verdict/), one submission's steps (grader/steps/), many submissions
(grader/batch/). These tests read every import in grader/ (lazy ones inside functions too) and fail
on one that crosses a boundary the wrong way, or closes a cycle."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "grader"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def grader_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, known: dict[str, Path]) -> set[str]:
    """The grader modules a file imports, anywhere in it: `from grader.x import y` counts as
    grader.x.y when that is a module, else as grader.x."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # `if TYPE_CHECKING:` imports never run
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name == "grader" or name.startswith("grader."))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def import_graph() -> dict[str, set[str]]:
    known = grader_modules()
    return {name: imported_modules(path, known) - {name} for name, path in known.items()}


def zone_violations(graph: dict[str, set[str]], zone: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module} imports {target}" for module, targets in sorted(graph.items())
            if module.startswith(zone + ".") or module == zone
            for target in sorted(targets) if target.startswith(forbidden)]


INSIDE_MAY_IMPORT = ("grader.inside",)
VERDICT_MAY_NOT = ("grader.sandbox", "grader.steps", "grader.batch", "grader.commands", "grader.cli", "grader.inside")
COURSE_MAY_NOT = ("grader.sandbox", "grader.steps", "grader.batch", "grader.commands", "grader.cli", "grader.reports")


def test_inside_imports_nothing_of_the_host():
    """Code that runs beside student code may import only its own zone: the host's modules
    (and their secrets, paths and constants) never load in the sandbox's Python."""
    graph = import_graph()
    bad = [f"{module} imports {target}"
           for module, targets in sorted(graph.items()) if module.startswith("grader.inside")
           for target in sorted(targets) if target != "grader.inside" and not target.startswith(INSIDE_MAY_IMPORT)]
    assert bad == []


def test_verdict_never_imports_the_sandbox_or_the_steps():
    """Points are decided from evidence alone: nothing that decides them can start a command."""
    assert zone_violations(import_graph(), "grader.verdict", VERDICT_MAY_NOT) == []


def test_course_data_imports_no_step_batch_or_report():
    assert zone_violations(import_graph(), "grader.course", COURSE_MAY_NOT) == []


def test_steps_never_import_the_batch_or_the_cli():
    assert zone_violations(import_graph(), "grader.steps", ("grader.batch", "grader.commands", "grader.cli")) == []


def test_zone_rule_fails_on_a_wrong_import():
    """The checks above can fail: a verdict module that imports the sandbox is caught."""
    graph = {"grader.verdict.score": {"grader.sandbox.base"}, "grader.inside.runner_kit": {"grader.course.spec"}}
    assert (zone_violations(graph, "grader.verdict", VERDICT_MAY_NOT)
            == ["grader.verdict.score imports grader.sandbox.base"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert longest_chain({"a": {"b"}, "b": {"c"}, "c": set()}) == ["a", "b", "c"]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain, module to module (the graph must have no cycle)."""
    assert find_cycle(graph) is None

    @cache
    def chain(node: str) -> tuple[str, ...]:
        return (node, *max((chain(t) for t in graph.get(node, ()) if t in graph), key=len, default=()))

    return list(max((chain(n) for n in graph), key=len, default=()))


def test_no_import_cycle():
    # The package itself (grader/__init__.py) only names the version: importing it from anywhere closes no loop.
    assert find_cycle(import_graph()) is None


LAYER_LIMIT = 14  # before the zones: 15 floors for 9,100 lines


def test_fewer_layers_than_before_the_zones():
    chain = longest_chain(import_graph())
    assert len(chain) <= LAYER_LIMIT, " -> ".join(chain)


@pytest.mark.parametrize("zone", ["inside", "verdict", "steps", "batch", "course", "reports", "sandbox", "commands"])
def test_every_zone_says_what_it_holds(zone):
    init = PACKAGE / zone / "__init__.py"
    assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), f"{init} needs a docstring"


def test_tests_mirror_the_package():
    """tests/<zone>/test_<module>[_<aspect>].py tests grader/<zone>/<module>.py: a test file whose
    module is gone, or one filed in the wrong zone, fails here."""
    zones = [p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    orphans = []
    for zone in zones:
        for test in sorted((REPO / "tests" / zone.name).glob("test_*.py")):
            words = test.stem.removeprefix("test_").split("_")
            if not any((zone / ("_".join(words[:n]) + ".py")).is_file() for n in range(len(words), 0, -1)):
                orphans.append(test.relative_to(REPO).as_posix())
    assert orphans == []
    assert {zone.name for zone in zones} <= {p.name for p in (REPO / "tests").iterdir() if p.is_dir()}
