"""`grader grade`: grade submissions (zips, folders, files) and write reports and a gradebook."""

from __future__ import annotations

import zipfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grader.catalog import Assignment
from grader.errors import GraderError
from grader.intake import parse_stem
from grader.pipeline import grade_submission
from grader.report import Report, print_gradebook, print_summary, write_gradebook
from grader.sandbox import Runner


def _is_batch_folder(folder: Path, assignment: Assignment) -> bool:
    """A folder of submissions (zips or studentID_name folders), not one submission."""
    if any((folder / rel).is_file() for rel in assignment.spec.editable):
        return False
    if parse_stem(folder.name):
        return False
    return any(p.suffix.lower() == ".zip" or (p.is_dir() and parse_stem(p.name)) for p in folder.iterdir())


def expand_sources(paths: list[Path], assignment: Assignment) -> list[Path]:
    sources: list[Path] = []
    for path in paths:
        if not path.exists():
            raise GraderError("no such file or folder", path)
        if path.is_dir() and _is_batch_folder(path, assignment):
            sources.extend(sorted(p for p in path.iterdir()
                                  if p.suffix.lower() == ".zip" or (p.is_dir() and parse_stem(p.name))))
        else:
            sources.append(path)
    if not sources:
        raise GraderError("no submissions found in " + ", ".join(map(str, paths)))
    return sources


def grade_all(sources: list[Path], assignment: Assignment, runner: Runner, out: Path, *, dataset: str | None,
              student_id: str | None, console: Console, detail: bool = True) -> list[Report]:
    out.mkdir(parents=True, exist_ok=True)
    reports: list[Report] = []
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("grading", total=len(sources), failed=0)
        for source in sources:
            def step(what: str, name=source.name) -> None:
                progress.update(task, description=f"{name}: {what}")
            step("intake")
            report = grade_submission(source, assignment, runner, out, dataset=dataset,
                                      student_id=student_id if len(sources) == 1 else None, progress=step)
            reports.append(report)
            failed = sum(r.status != "graded" for r in reports)
            progress.update(task, advance=1, failed=failed)
            if detail:
                progress.console.print()
                print_summary(report, progress.console)
    write_gradebook(reports, out)
    if len(reports) > 1:
        print_gradebook(reports, console)
    console.print(f"reports in {out} (grades.csv, index.html)")
    return reports


def exit_code(reports: list[Report]) -> int:
    if any(r.status == "rejected" for r in reports):
        return 2
    return 1 if any(r.status in ("error", "timeout") for r in reports) else 0
