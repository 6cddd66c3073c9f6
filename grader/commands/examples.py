"""Example submissions made from the course sources: the reference solution, the untouched
skeleton and each known-wrong baseline, zipped as a student would hand them in."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from grader.batch.executors import LocalExecutor
from grader.batch.run import grade_batch
from grader.commands.package import package
from grader.course.catalog import Assignment
from grader.course.skeleton import count_in_source, plain_solution, replace_in_source
from grader.course.spec import Baseline
from grader.errors import SpecError
from grader.reports.report import Report, write_report
from grader.steps.naming import report_folder, report_folder_name
from grader.steps.workspace import without_missing_logs


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


def example_trees(assignment: Assignment, tmp: Path, baselines: bool = True,
                  only: str | None = None) -> list[tuple[str, str, Path]]:
    """(kind, label, folder) per example: the skeleton with the example's editable files laid over
    it, in `tmp`. With `only`, just the example of that label (reference, skeleton or a baseline)."""
    sources = [("reference", "reference", lambda: assignment.solution_dir),
               ("skeleton", "skeleton", lambda: assignment.skeleton_dir)]
    if baselines:
        sources += [("baseline", b.name, lambda b=b: _baseline_source(assignment, b, tmp))
                    for b in assignment.spec.baselines]
    if only is not None:
        sources = [s for s in sources if s[1] == only]
    return [(kind, label, _editable_copy(assignment, source(), tmp / label)) for kind, label, source in sources]


def make_examples(assignment: Assignment, out_dir: Path, student_ids: list[str], baselines: bool = True,
                  distinct_ids: bool = False, only: str | None = None) -> list[Example]:
    """One zip per example, each example under every student ID given; with distinct_ids,
    example k gets the first ID plus k instead (one gradebook row each). With `only`, just that example."""
    examples = []
    with tempfile.TemporaryDirectory(prefix="grader-examples-") as tmp:
        for k, (kind, label, folder) in enumerate(example_trees(assignment, Path(tmp), baselines, only)):
            for sid in ([str(int(student_ids[0]) + k)] if distinct_ids else student_ids):
                zipped = package(assignment, folder, sid, label, out_dir, allow_missing=True)
                examples.append(Example(kind, label, zipped))
    return examples


def grade_examples(examples: list[Example], assignment: Assignment, sandbox, out: Path, dataset: str | None,
                   console: Console, jobs: int = 1, on_report=None) -> list[tuple[Example, Report]]:
    """Grade examples `jobs` at a time through the batch grader (each job with its share of the
    cores, never from the resume cache); on_report(example, report) as each finishes. Returns
    (example, report) in the examples' order."""
    by_zip = {e.zip_path: e for e in examples}

    def report_one(source: Path, report: Report) -> None:
        # An example is made of the editable files only: it cannot carry the logs its experiments write.
        kept = without_missing_logs(report.warnings, assignment.output_files())
        changed, report.warnings = kept != report.warnings, kept
        if changed and report_folder_name(report.stem):
            write_report(report, report_folder(out, report.stem))
        if on_report:
            on_report(by_zip[source], report)

    result = grade_batch([e.zip_path for e in examples], assignment, LocalExecutor(sandbox, jobs), out, dataset=dataset,
                         student_id=None, console=console, use_cache=False, on_report=report_one)
    return [(by_zip[source], report) for source, report in zip(result.sources, result.reports)]
