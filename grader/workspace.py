"""Step 2, workspace: a fresh folder per submission holding the pristine skeleton with the
student's editable files laid over it. Nothing from solutions/ or the hidden tests is copied
here; the probes step brings hidden tests in only when it runs them."""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.catalog import Assignment
from grader.intake import Submission


@dataclass
class Workspace:
    path: Path
    submitted_outputs: dict[str, Path] = field(default_factory=dict)  # e.g. the student's own logs
    trusted_logs: dict[str, Path] = field(default_factory=dict)  # logs of trusted steps, kept outside the workspace
    restored: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # for the report's flags, e.g. edited given notebook cells


def _find_submitted(submission: Submission, rel: str) -> str | None:
    """The submitted file for `rel`: at the same path, or (for flat assignments) by name anywhere."""
    if rel in submission.files:
        return rel
    candidates = [f for f in submission.files if f.rsplit("/", 1)[-1] == rel.rsplit("/", 1)[-1]]
    return candidates[0] if len(candidates) == 1 else None


def prepare_workspace(assignment: Assignment, submission: Submission, dest: Path) -> Workspace:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(assignment.skeleton_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    ws = Workspace(path=dest)
    spec = assignment.spec
    used: set[str] = set()

    for rel in spec.editable:
        found = _find_submitted(submission, rel)
        if found is None:
            continue
        used.add(found)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(submission.path_of(found), dest / rel)
        if rel.endswith(".ipynb") and (assignment.skeleton_dir / rel).is_file():
            from grader.notebook import restore_given_cells_in_file  # nbformat only for notebook assignments

            if edited := restore_given_cells_in_file(dest / rel, assignment.skeleton_dir / rel):
                ws.flags.append(f"given notebook cells were edited: {rel} {'; '.join(edited)} (restored)")

    for rel in sorted(assignment.output_files()):
        found = _find_submitted(submission, rel)
        if found is not None:
            used.add(found)
            ws.submitted_outputs[rel] = submission.path_of(found)

    for rel in spec.required:
        if _find_submitted(submission, rel) is None:
            ws.missing.append(rel)

    for rel in submission.files:
        if rel in used:
            continue
        pristine = assignment.skeleton_dir / rel
        if pristine.is_file():
            if not filecmp.cmp(pristine, submission.path_of(rel), shallow=False):
                ws.restored.append(rel)
        else:
            ws.ignored.append(rel)

    if ws.missing:
        ws.warnings.append(f"missing required files: {', '.join(ws.missing)}")
    if ws.restored:
        ws.warnings.append(
            f"protected files were changed and the pristine copies were used instead: {', '.join(ws.restored)}"
            f" (only {', '.join(spec.editable)} may be edited)"
        )
    if ws.ignored:
        shown = ", ".join(ws.ignored[:5]) + (f" and {len(ws.ignored) - 5} more" if len(ws.ignored) > 5 else "")
        ws.warnings.append(f"ignored files that are not part of the assignment: {shown}")
    return ws


CODE_SUFFIXES = {".py", ".pyc", ".pyo", ".pth", ".so"}


def restore_protected(assignment: Assignment, ws: Workspace) -> None:
    """Before each step: put back every skeleton file a student may not edit, and remove code
    an earlier step left behind (a `torch.py` shadowing a library, an unchecked .pyc standing
    in for a restored module), so code run in one step cannot change what the next one runs."""
    editable = set(assignment.spec.editable)
    pristine: set[str] = set()
    for source in assignment.skeleton_dir.rglob("*"):
        rel = source.relative_to(assignment.skeleton_dir)
        if not source.is_file() or "__pycache__" in rel.parts:
            continue
        pristine.add(rel.as_posix())
        if rel.as_posix() in editable:
            continue
        target = ws.path / rel
        if target.is_symlink():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        if not target.is_file() or not filecmp.cmp(source, target, shallow=False):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for path in sorted(ws.path.rglob("*"), reverse=True):
        rel = path.relative_to(ws.path).as_posix()
        if path.is_symlink():
            path.unlink()
        elif path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in CODE_SUFFIXES and rel not in pristine and rel not in editable:
            path.unlink()
