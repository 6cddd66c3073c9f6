"""Given cells of a notebook submission, on the host: which code cells the skeleton gives (every
one without a TODO stub), and the submitted notebook rewritten with those cells as the skeleton
has them before it runs, so a student cannot change the given training or evaluation. Import
statements a student added to a given cell are kept (see `restore_given_cells`)."""

from __future__ import annotations

import ast
import copy
import difflib
import re
from pathlib import Path

import nbformat

from grader.inside.notebook import NotebookError, cell_label, read_notebook

TODO_STUB = re.compile(r"raise NotImplementedError\(\s*['\"]TODO \(")  # the stub `grader build` writes
_DEFINES = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)", re.MULTILINE)
EDITED_GIVEN_SIMILARITY = 0.6  # an unmatched code cell at least this close to a given cell is that cell, edited


def is_todo_cell(cell) -> bool:
    """A skeleton code cell the student fills in (it holds a TODO stub); every other code cell is given."""
    return cell.cell_type == "code" and bool(TODO_STUB.search(cell.source))


def _defined_names(source: str) -> list[str]:
    return _DEFINES.findall(source)


def _similarity(a: str, b: str) -> float:
    matcher = difflib.SequenceMatcher(None, a[:20_000], b[:20_000], autojunk=False)
    return matcher.ratio() if matcher.quick_ratio() >= EDITED_GIVEN_SIMILARITY else 0.0


def _match_cells(submitted: list, skeleton: list) -> dict[int, int]:
    """skeleton code-cell index -> submitted cell index, by cell id, then identical source, then
    (TODO cells) the same first function or class defined, then (given cells) similar text."""
    match: dict[int, int] = {}
    used: set[int] = set()
    code = [j for j, c in enumerate(submitted) if c.cell_type == "code"]

    def take(k: int, candidates) -> None:
        for j in candidates:
            if j not in used:
                match[k] = j
                used.add(j)
                return

    skeleton_code = [k for k, c in enumerate(skeleton) if c.cell_type == "code"]
    for k in skeleton_code:
        if skeleton[k].get("id"):
            take(k, [j for j in code if submitted[j].get("id") == skeleton[k].get("id")])
    for k in skeleton_code:
        if k not in match:
            take(k, [j for j in code if submitted[j].source.strip() == skeleton[k].source.strip()])
    for k in skeleton_code:
        names = _defined_names(skeleton[k].source)
        if k not in match and is_todo_cell(skeleton[k]) and names:
            take(k, [j for j in code if _defined_names(submitted[j].source)[:1] == names[:1]])
    for k in skeleton_code:
        if k in match or is_todo_cell(skeleton[k]):
            continue
        scored = [(_similarity(skeleton[k].source, submitted[j].source), j) for j in code if j not in used]
        best = max(scored, default=(0.0, -1))
        if best[0] >= EDITED_GIVEN_SIMILARITY:
            take(k, [best[1]])
    return match


def _import_statements(source: str) -> list[tuple[str, int, int]]:
    """The top-level import statements of a cell's text that stand alone on their lines (no
    `import x; other()`), each as (text, first line, last line), lines counted from 1. A cell
    that does not parse (an IPython magic, a syntax error) is read line by line instead."""
    lines = source.splitlines()
    try:
        body = ast.parse(source).body
    except SyntaxError:
        found = []
        for number, line in enumerate(lines, 1):
            try:
                alone = ast.parse(line).body
            except SyntaxError:
                continue
            if len(alone) == 1 and isinstance(alone[0], (ast.Import, ast.ImportFrom)):
                found.append((line.strip(), number, number))
        return found
    found = []
    for node in body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        first, last = node.lineno, node.end_lineno or node.lineno
        if any(other is not node and other.lineno <= last and (other.end_lineno or other.lineno) >= first
               for other in body):
            continue  # shares a line with another statement
        found.append(("\n".join(lines[first - 1:last]).strip(), first, last))
    return found


def _import_key(statement: str) -> str:
    return ast.dump(ast.parse(statement))


def _bound_by_import(statement: str, same: frozenset[str] = frozenset()) -> set[str] | None:
    """Names an import statement binds; None for `from x import *` (any name). `import a.b`
    binds `a` to the package `a`: when `a` is in `same` (packages a plain `import a...` already
    binds to their own name), that is no new binding."""
    node = ast.parse(statement).body[0]
    names = set()
    for alias in node.names:
        if alias.name == "*":
            return None
        if isinstance(node, ast.Import) and alias.asname is None and alias.name.split(".")[0] in same:
            continue
        names.add(alias.asname or alias.name.split(".")[0])
    return names


def _plain_packages(statements) -> frozenset[str]:
    """Top-level packages that `import a` or `import a.b` (no `as`) bind to their own name."""
    return frozenset(alias.name.split(".")[0] for text in statements for node in ast.parse(text).body
                     if isinstance(node, ast.Import) for alias in node.names if alias.asname is None)


def _bound_by_cell(source: str) -> set[str]:
    """Names a cell binds anywhere in its text (assignments, definitions, imports), so that an
    import added to it cannot take the place of one of them."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {name for text, _, _ in _import_statements(source) for name in _bound_by_import(text) or ()}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return names


def _keep_added_imports(given: str, submitted: str) -> tuple[str, bool]:
    """The given cell's text with the import statements the student added to it (in the order
    written, after the given cell's own last import), and whether the student changed anything
    else in it. An import that would rebind a name the given cell binds, or `import *`, is not
    kept. An added import can change no score: every metric is computed outside the
    notebook; keeping it spares a correct notebook a NameError for `F` or `plt`."""
    given_imports = _import_statements(given)
    have = {_import_key(text) for text, _, _ in given_imports}
    given_names, same = _bound_by_cell(given), _plain_packages(text for text, _, _ in given_imports)
    added = []
    for text, first, last in _import_statements(submitted):
        key, binds = _import_key(text), _bound_by_import(text, same)
        if key not in have and binds is not None and not binds & given_names:
            have.add(key)
            added.append((text, first, last))
    if not added:
        return given, submitted.strip() != given.strip()
    taken = {n for _, first, last in added for n in range(first, last + 1)}
    rest = [line.rstrip() for n, line in enumerate(submitted.splitlines(), 1) if n not in taken and line.strip()]
    changed = rest != [line.rstrip() for line in given.splitlines() if line.strip()]
    lines = given.splitlines()
    at = max((last for _, _, last in given_imports), default=0)
    source = "\n".join(lines[:at] + [text for text, _, _ in added] + lines[at:])
    return source, changed


def restore_given_cells(submitted: nbformat.NotebookNode,
                        skeleton: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to run: the skeleton's given (non-TODO) code cells in the skeleton's order,
    each TODO cell as the student wrote it; and a description of every given cell the student
    had edited or deleted (each is restored).

    Cells are matched by cell id, then by identical text, then a TODO cell by the first function
    or class it defines, then a given cell by similar text (a student whose editor renumbered
    the ids). What the student added is kept where it was (after the matched cell before it):
    markdown, and code cells too: plots or helpers are legitimate, and since every metric is
    computed outside the notebook an added cell can change no score. For the same reason import
    statements a student added to a given cell (`import torch.nn.functional as F`) are kept in
    it, after its own imports, while everything else of the cell is restored; a given cell whose
    only change is added imports is not reported as edited. A TODO cell the student deleted is
    not put back (their own code stands, or the run fails where it is missing)."""
    # the caller's notebook stays as it was
    student, pristine = copy.deepcopy(list(submitted.cells)), list(skeleton.cells)
    match = _match_cells(student, pristine)
    matched_student = {j: k for k, j in match.items()}
    attached: dict[int, list] = {-1: []}  # skeleton index (-1: before all) -> the student's own cells after it
    anchor = -1
    for j, cell in enumerate(student):
        if j in matched_student:
            anchor = matched_student[j]
            attached.setdefault(anchor, [])
        else:
            attached.setdefault(anchor, []).append(cell)
    cells, edited = list(attached[-1]), []
    for k, cell in enumerate(pristine):
        if cell.cell_type != "code":
            cells.extend(attached.get(k, []))
            continue
        label = cell_label(k, cell)
        if is_todo_cell(cell):
            if k in match:
                cells.append(student[match[k]])
        else:
            restored = copy.deepcopy(cell)  # its text, tags and id: the skeleton's (and the student's added imports)
            if k not in match:
                edited.append(f"{label} was deleted")
            else:
                restored.source, changed = _keep_added_imports(cell.source, student[match[k]].source)
                if changed:
                    edited.append(f"{label} was changed")
            cells.append(restored)
        cells.extend(attached.get(k, []))
    out = copy.deepcopy(submitted)
    out.cells = cells
    # Restored cells carry ids (nbformat 4.5); a student's older-format cells do not: one format.
    out.nbformat, out.nbformat_minor = 4, max(submitted.get("nbformat_minor", 0), skeleton.get("nbformat_minor", 0))
    if out.nbformat_minor >= 5:
        seen: set[str] = set()
        for index, cell in enumerate(out.cells):
            if not cell.get("id") or cell["id"] in seen:
                cell["id"] = f"cell-{index}"
            seen.add(cell["id"])
    return out, edited


def restore_given_cells_in_file(path: Path, skeleton_path: Path) -> list[str]:
    """Rewrites a submitted notebook with its given cells restored; what was edited. An unreadable
    notebook is left as it is: running it reports the problem."""
    try:
        submitted, skeleton = read_notebook(path), read_notebook(skeleton_path)
    except NotebookError:
        return []
    restored, edited = restore_given_cells(submitted, skeleton)
    if restored.cells != submitted.cells:
        nbformat.write(restored, str(path))
    return edited


