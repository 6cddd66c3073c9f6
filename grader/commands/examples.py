"""Example submissions made from the course sources: the reference solution, the untouched
skeleton and each known-wrong baseline, zipped as a student would hand them in."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.catalog import Assignment
from grader.commands.package import package


@dataclass(frozen=True)
class Example:
    kind: str  # "reference", "skeleton" or "baseline"
    label: str
    zip_path: Path


def _editable_copy(assignment: Assignment, source: Path, dest: Path) -> Path:
    """The skeleton with `source`'s editable files laid over it: what a student's folder holds."""
    shutil.copytree(assignment.skeleton_dir, dest)
    for rel in assignment.spec.editable:
        if (source / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, dest / rel)
    return dest


def make_examples(assignment: Assignment, out_dir: Path, student_ids: list[str], baselines: bool = True,
                  distinct_ids: bool = False) -> list[Example]:
    """One zip per example, each example under every student ID given; with distinct_ids,
    example k gets the first ID plus k instead (one gradebook row each)."""
    sources = [("reference", "reference", assignment.solution_dir), ("skeleton", "skeleton", assignment.skeleton_dir)]
    if baselines:
        sources += [("baseline", b.name, assignment.folder / b.path) for b in assignment.spec.baselines]
    examples = []
    with tempfile.TemporaryDirectory(prefix="grader-examples-") as tmp:
        for k, (kind, label, source) in enumerate(sources):
            folder = _editable_copy(assignment, source, Path(tmp) / label)
            for sid in ([str(int(student_ids[0]) + k)] if distinct_ids else student_ids):
                examples.append(Example(kind, label, package(assignment, folder, sid, label, out_dir, allow_missing=True)))
    return examples
