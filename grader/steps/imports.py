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
