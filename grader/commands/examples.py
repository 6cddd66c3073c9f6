"""Example submissions made from the course sources: the reference solution, the untouched
skeleton and each known-wrong baseline, zipped as a student would hand them in."""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from grader.catalog import Assignment
from grader.commands.package import package
from grader.errors import SpecError
from grader.skeleton import count_in_source, plain_solution, replace_in_source
from grader.spec import Baseline


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


def _baseline_source(assignment: Assignment, baseline: Baseline, tmp: Path) -> Path:
    if baseline.path is not None:
        return assignment.folder / baseline.path
    folder = tmp / f"edits-{baseline.name}"
    folder.mkdir()
    for rel in assignment.spec.editable:
        source = assignment.solution_dir / rel
        if source.is_file():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(plain_solution(source.read_text(encoding="utf-8"), rel), encoding="utf-8")
    for edit in baseline.edits:
        target = folder / edit.file
        text = target.read_text(encoding="utf-8") if target.is_file() else ""
        found = count_in_source(text, edit.file, edit.old)
        if found != 1:
            raise SpecError(f"baseline {baseline.name}: the text to edit occurs {found} times in "
                            f"{edit.file} (must be once): {edit.old[:60]!r}", assignment.folder / "assignment.yaml")
        target.write_text(replace_in_source(text, edit.file, edit.old, edit.new), encoding="utf-8")
    return folder


def make_examples(assignment: Assignment, out_dir: Path, student_ids: list[str], baselines: bool = True,
                  distinct_ids: bool = False) -> list[Example]:
    """One zip per example, each example under every student ID given; with distinct_ids,
    example k gets the first ID plus k instead (one gradebook row each)."""
    examples = []
    with tempfile.TemporaryDirectory(prefix="grader-examples-") as tmp:
        sources = [("reference", "reference", assignment.solution_dir), ("skeleton", "skeleton", assignment.skeleton_dir)]
        if baselines:
            sources += [("baseline", b.name, _baseline_source(assignment, b, Path(tmp))) for b in assignment.spec.baselines]
        for k, (kind, label, source) in enumerate(sources):
            folder = _editable_copy(assignment, source, Path(tmp) / label)
            for sid in ([str(int(student_ids[0]) + k)] if distinct_ids else student_ids):
                examples.append(Example(kind, label, package(assignment, folder, sid, label, out_dir, allow_missing=True)))
    return examples


def grade_examples(examples: list[Example], assignment: Assignment, runner, out: Path, dataset: str | None,
                   jobs: int = 1):
    """Grade examples `jobs` at a time, each job with its share of the cores; yields
    (example, report) in the examples' order as each becomes known."""
    from grader.commands.grade import with_cpu_share
    from grader.pipeline import grade_submission

    job_assignment = with_cpu_share(assignment, jobs)

    def grade(example: Example):
        return grade_submission(example.zip_path, job_assignment, runner, out, dataset=dataset)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        yield from zip(examples, pool.map(grade, examples))
