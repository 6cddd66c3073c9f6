"""`grader grade`: grade submissions (zips, folders, files) in parallel and write reports,
Gradescope results and the gradebook. Finished submissions are cached by a hash of the
submission, the assignment and the grader version, so an interrupted batch resumes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import zipfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grader import __version__
from grader.catalog import Assignment
from grader.errors import GraderError
from grader.gradescope import write_results
from grader.inert import for_terminal
from grader.intake import parse_stem, submission_stem
from grader.pipeline import fit_to_host, grade_submission, report_folder
from grader.report import FAILED_STATUSES, Report, load_report, print_gradebook, print_summary, write_gradebook
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


def _file_names(path: Path, limit: int = 2000) -> set[str]:
    """Base names of the files one submission (zip, folder or file) holds."""
    if path.is_file() and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                return {PurePosixPath(n).name for n in archive.namelist()[:limit]}
        except (zipfile.BadZipFile, OSError, ValueError):  # ValueError: names that are not UTF-8
            return set()  # intake rejects it later, with the reason
    if path.is_dir():
        return {p.name for _, p in zip(range(limit), path.rglob("*"))}
    return {path.name}


def _best_fit(names: set[str], assignments: list[Assignment]) -> list[Assignment]:
    """Assignments whose editable files are all there; of those, the ones with most editable
    files (a CNN submission holds a model.py too)."""
    fits = [a for a in assignments if {Path(rel).name for rel in a.spec.editable} <= names]
    most = max((len(a.spec.editable) for a in fits), default=0)
    return [a for a in fits if len(a.spec.editable) == most]


def guess_assignment(paths: list[Path], assignments: list[Assignment]) -> Assignment:
    """The assignment the submissions are for, from the files they hold. Every submission that
    fits one must fit the same; ambiguity is an error, never a guess."""
    submissions = []
    for path in paths:
        batch = path.is_dir() and any(p.suffix.lower() == ".zip" or (p.is_dir() and parse_stem(p.name)) for p in path.iterdir())
        submissions += sorted(p for p in path.iterdir() if p.suffix.lower() == ".zip" or p.is_dir()) if batch else [path]
    votes: dict[str, int] = {}
    for submission in submissions:
        best = _best_fit(_file_names(submission), assignments)
        key = best[0].id if len(best) == 1 else " or ".join(a.id for a in best)
        if key:
            votes[key] = votes.get(key, 0) + 1
    if len(votes) == 1 and " or " not in next(iter(votes)):
        return next(a for a in assignments if a.id == next(iter(votes)))
    seen = ", ".join(f"{k} ({n})" for k, n in votes.items()) or "none holds all the editable files of one"
    raise GraderError(f"cannot tell which assignment to grade (submissions fit: {seen}; assignments: "
                      f"{', '.join(a.id for a in assignments)}): pass --assignment")


def latest_per_student(sources: list[Path]) -> tuple[list[Path], dict[Path, str]]:
    """Two submissions of one student ID: the newest file wins; the others are dropped with a note."""
    by_id: dict[str, list[Path]] = {}
    keep: list[Path] = []
    for source in sources:
        parsed = parse_stem(submission_stem(source))
        if parsed:
            by_id.setdefault(parsed[0], []).append(source)
        else:
            keep.append(source)
    notes: dict[Path, str] = {}
    for student_id, paths in by_id.items():
        paths.sort(key=lambda p: (p.stat().st_mtime, p.name))
        winner = paths[-1]
        keep.append(winner)
        if len(paths) > 1:
            notes[winner] = (f"student {student_id} submitted {len(paths)} times; graded the latest ({winner.name}), "
                             f"ignored {', '.join(p.name for p in paths[:-1])}")
    return [s for s in sources if s in keep], notes


def _hash_tree(digest, root: Path) -> None:
    if root.is_file():
        digest.update(root.read_bytes())
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())


def cache_key(source: Path, assignment: Assignment, dataset: str | None, backend: str) -> str:
    """Changes when the submission, the assignment (spec, rubric, tests, skeleton) or the grader does."""
    digest = hashlib.sha256(f"{__version__}|{dataset}|{backend}".encode())
    for root in (source, assignment.folder, assignment.rubric_path, assignment.skeleton_dir):
        digest.update(b"\1")
        if root.exists():
            _hash_tree(digest, root)
    return digest.hexdigest()


def _cached(folder: Path, key: str) -> Report | None:
    path = folder / "report.json"
    if not path.is_file():
        return None
    try:
        report = load_report(path)
    except (ValueError, OSError):
        return None
    return report if report.cache_key == key and report.status != "error" else None


def with_cpu_share(assignment: Assignment, jobs: int) -> Assignment:
    """Each parallel job gets its share of the cores (and so of torch's threads)."""
    cores = os.cpu_count() or 1
    share = max(1.0, min(assignment.spec.limits.cpus, cores / jobs))
    limits = assignment.spec.limits.model_copy(update={"cpus": share})
    return dataclasses.replace(assignment, spec=assignment.spec.model_copy(update={"limits": limits}))


def grade_all(sources: list[Path], assignment: Assignment, runner: Runner, out: Path, *, dataset: str | None,
              student_id: str | None, console: Console, detail: bool = True, jobs: int = 1,
              force: bool = False) -> list[Report]:
    out.mkdir(parents=True, exist_ok=True)
    dataset = assignment.dataset(dataset)
    sources, duplicate_notes = latest_per_student(sources)
    job_assignment = fit_to_host(with_cpu_share(assignment, jobs), jobs, runner, notice=console.print)
    reports: dict[Path, Report] = {}
    lock = threading.Lock()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("failed {task.fields[failed]}, remaining {task.fields[remaining]}, cached {task.fields[cached]}"), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn()]

    def finish(source: Path, report: Report, progress: Progress, task) -> None:
        if source in duplicate_notes and duplicate_notes[source] not in report.flags:
            report.flags.append(duplicate_notes[source])
        folder = report_folder(out, report.stem)
        write_results(report, folder / "results.json")
        with lock:
            reports[source] = report
            failed = sum(r.status != "graded" for r in reports.values())
            progress.update(task, advance=1, failed=failed, remaining=len(sources) - len(reports))
            if detail:
                print_summary(report, progress.console)

    def grade_one(source: Path, key: str, progress: Progress, task) -> Report:
        report = grade_submission(source, job_assignment, runner, out, dataset=dataset,
                                  student_id=student_id if len(sources) == 1 else None,
                                  progress=lambda what: progress.update(task, description=for_terminal(f"{source.name}: {what}")),
                                  cache_key=key)
        return report

    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("grading", total=len(sources), failed=0, cached=0, remaining=len(sources))
        todo: list[tuple[Path, str]] = []
        for source in sources:
            key = cache_key(source, assignment, dataset, runner.name)
            hit = None if force else _cached(report_folder(out, submission_stem(source)), key)
            if hit is not None:
                progress.update(task, cached=progress.tasks[0].fields["cached"] + 1)
                finish(source, hit, progress, task)
            else:
                todo.append((source, key))
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            pending = {pool.submit(grade_one, source, key, progress, task): source for source, key in todo}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(pending.pop(future), future.result(), progress, task)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            cancel = getattr(runner, "cancel_all", None)
            if cancel:
                cancel()
            console.print(f"[yellow]interrupted[/]: {len(reports)} of {len(sources)} graded; run the same command to resume")
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    ordered = [reports[s] for s in sources if s in reports]
    write_gradebook(ordered, out)
    if len(ordered) > 1:
        print_gradebook(ordered, console)
    console.print(f"reports in {out} (grades.csv, index.html, per submission report.json, report.html, results.json)")
    return ordered


def exit_code(reports: list[Report]) -> int:
    if any(r.status == "rejected" for r in reports):
        return 2
    return 1 if any(r.status in FAILED_STATUSES for r in reports) else 0
