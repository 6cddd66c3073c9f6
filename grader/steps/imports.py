"""Which imports in a student's files the grading image cannot satisfy, found by reading the
code (ast), never by running it: the standard library, the packages the image installs (and
what they depend on) and the handout's own modules are there; anything else fails in the
TA's run, so `grader check` says so first."""

from __future__ import annotations

import ast
import json
import re
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from grader.safe_fs import read_text


def _distribution_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


@lru_cache(maxsize=1)
def image_modules() -> frozenset[str]:
    """Top-level modules the grading image provides: the standard library, and the import
    names of the image's pinned packages and everything they depend on (from the metadata of
    the same pinned versions installed here)."""
    from grader.sandbox.image import SANDBOX_REQUIREMENTS, _grader_requirements

    wanted = {_distribution_name(r) for r in SANDBOX_REQUIREMENTS + _grader_requirements()}
    closure: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        wanted.update(_distribution_name(r) for r in requires if "extra ==" not in r)
    modules = set(sys.stdlib_module_names)
    for module, dists in metadata.packages_distributions().items():
        if any(d.lower().replace("_", "-") in closure for d in dists):
            modules.add(module)
    return frozenset(modules)


def _sources(path: Path) -> list[tuple[str, str]]:
    """(where, code) pieces of a .py file or of a notebook's code cells (magics dropped)."""
    text = read_text(path, path.parent, cap=5_000_000)
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except (ValueError, AttributeError):
            return []
        pieces = []
        for index, cell in enumerate(cells):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            pieces.append((f"{path.name} cell {index + 1}", "\n".join(lines)))
        return pieces
    return [(path.name, text)]


def imported_modules(code: str) -> set[str]:
    """The top-level names of the absolute imports anywhere in `code`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def unsatisfied_imports(files: list[Path], local_modules: set[str]) -> list[str]:
    """One warning per import the image cannot satisfy, naming the file (and cell)."""
    available = image_modules() | local_modules
    warnings = []
    for path in files:
        try:
            pieces = _sources(path)
        except OSError:
            continue
        for where, code in pieces:
            for module in sorted(imported_modules(code) - available):
                warnings.append(f"{where} imports {module}, which the grading image does not have: "
                                f"the TA's run will fail there (use only the packages in requirements.txt)")
    return warnings


def local_modules(folder: Path) -> set[str]:
    """Modules a handout holds itself: its .py files and packages (top level)."""
    names = {p.stem for p in folder.glob("*.py")}
    names |= ({p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
              if folder.is_dir() else set())
    return names


def module_level_imports(code: str) -> set[str]:
    """The absolute imports a module runs when it is imported (its body, branches and `try`
    blocks included, function and class bodies not), as written: `torch.nn.functional`."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return set()
    names: set[str] = set()
    while body:
        node = body.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                body.extend(child for child in getattr(node, field, []) if isinstance(child, ast.AST))
            for case in getattr(node, "cases", []):
                body.extend(case.body)
    return names


_PRELOAD: dict[tuple[Path, str], tuple[str, ...]] = {}


def preload_modules(assignment) -> tuple[str, ...]:
    """What the grader's preloaded interpreters import for this assignment's trusted steps and
    hidden tests (grader/sandbox/warm.py): the installed modules those processes import as they
    start, found by reading the course's own code: the trusted
    steps' scripts and the hidden-test runners, and the handout's modules they import, followed
    from module to module in the skeleton (generated from the reference: the same imports).
    Never a module of the handout's own, never a student's file, nothing imported only inside a
    function (it may never be needed, and each module preloaded is memory in every child).
    Cheap (a few files parsed, once per grader process and assignment): every submission's
    request carries it, whichever the backend."""
    key = (assignment.root, assignment.id)
    if key not in _PRELOAD:
        skeleton = assignment.skeleton_dir
        own = local_modules(skeleton)
        pending = list(assignment.runner_sources().values())
        for experiment in assignment.spec.experiments:
            script = next((word for word in experiment.command.split() if word.endswith(".py")), None)
            if experiment.trusted and script and (skeleton / script).is_file():
                pending.append((skeleton / script).read_text(encoding="utf-8"))
        seen, names = set(), set()
        while pending:
            for name in module_level_imports(pending.pop()):
                top = name.split(".")[0]
                if top in own:
                    if top not in seen and (skeleton / f"{top}.py").is_file():
                        seen.add(top)
                        pending.append((skeleton / f"{top}.py").read_text(encoding="utf-8"))
                elif top not in ("grader", "__future__"):  # one that is not installed is simply not preloaded
                    names.add(name)
        _PRELOAD[key] = tuple(sorted(names))
    return _PRELOAD[key]
