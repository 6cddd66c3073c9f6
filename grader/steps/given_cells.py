"""Given cells of a notebook submission, on the host: which code cells the skeleton gives (every
one without a TODO stub), and the submitted notebook rewritten with those cells as the skeleton
has them before it runs, so a student cannot change the given training or evaluation."""

from __future__ import annotations

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


def restore_given_cells(submitted: nbformat.NotebookNode, skeleton: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to run: the skeleton's given (non-TODO) code cells in the skeleton's order,
    each TODO cell as the student wrote it; and a description of every given cell the student
    had edited or deleted (each is restored).

    Cells are matched by cell id, then by identical text, then a TODO cell by the first function
    or class it defines, then a given cell by similar text (a student whose editor renumbered
    the ids). What the student added is kept where it was (after the matched cell before it):
    markdown, and code cells too: plots or helpers are legitimate, and since every metric is
    computed outside the notebook an added cell can change no score. A TODO cell the student
    deleted is not put back (their own code stands, or the run fails where it is missing)."""
    student, pristine = copy.deepcopy(list(submitted.cells)), list(skeleton.cells)  # the caller's notebook stays as it was
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
            restored = copy.deepcopy(cell)  # its text, tags and id: the skeleton's
            if k not in match:
                edited.append(f"{label} was deleted")
            elif student[match[k]].source.strip() != cell.source.strip():
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


