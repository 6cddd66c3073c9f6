"""The batch: grade a list of submissions on an executor, skipping those a previous run finished
(grader/batch/cache.py), stop cleanly on SIGINT/SIGTERM/SIGHUP, and finish every report with what
may reach its student.

A report reaches --out only when its submission finished: each is graded into a staging
folder (out/.grading/) and moved into place whole, so an interrupted run never leaves a
half-graded report that the next run would take for a finished one."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from rich.console import Console

from grader.batch.cache import FAILED, assignment_bytes, cache_key, cached_report
from grader.batch.executors import BatchContext, Executor, Job, LocalExecutor, failed_report
from grader.batch.host import load_notice
from grader.batch.progress import Activity, BatchProgress, clock, counts_for_eta, estimate_remaining
from grader.course.catalog import Assignment
from grader.course.spec import LatePolicy
from grader.errors import GraderError
from grader.reports.gradescope import write_student_outputs
from grader.reports.report import Report, write_report
from grader.steps.lms import Identity
from grader.steps.naming import STAGING, report_folder, report_folder_name, submission_stem
from grader.steps.workspace import empty_trash
from grader.verdict.late import Extension, apply_late

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class Interrupted(KeyboardInterrupt):
    """The batch stopped on a signal; the CLI exits 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_code = 128 + signum


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP set an event the batch loop polls (the handler itself takes no
    lock); a second one stops at once."""

    def __init__(self):
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.event.is_set():
            raise Interrupted(signum)
        self.signum = signum
        self.event.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class BatchResult:
    reports: list[Report]  # in the order of the sources
    sources: list[Path] = field(default_factory=list)  # the source of each report
    cached: int = 0
    graded: int = 0
    seconds: float = 0.0
    durations: list[float] = field(default_factory=list)


def _commit(folder: Path, target: Path, staging: Path) -> None:
    """Move a finished report folder into place whole."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        old = staging / f"old-{uuid.uuid4().hex}"
        os.rename(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(folder, target)


def grade_batch(sources: list[Path], assignment: Assignment, executor: Executor, out: Path, *, dataset: str | None,
                student_id: str | None, console: Console, force: bool = False, retry_failed: bool = False,
                use_cache: bool = True, on_report: Callable[[Path, Report], None] | None = None,
                identities: dict[Path, Identity] | None = None) -> BatchResult:
    """Grade `sources` on `executor` into `out`, skipping those a previous run finished. Calls
    on_report(source, report) as each becomes known. Raises Interrupted on SIGINT/SIGTERM/SIGHUP
    after stopping the executor; the reports finished by then stay and a re-run resumes."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / STAGING, ignore_errors=True)  # left by a run that was killed outright
    empty_trash()  # workspaces whose deletion a stopped grader left unfinished
    ctx = BatchContext(assignment, assignment.dataset(dataset), out / STAGING / uuid.uuid4().hex)
    ctx.staging.mkdir(parents=True)
    result = BatchResult([])
    reports: dict[Path, Report] = {}
    durations: list[float] = []

    def record(source: Path, report: Report) -> None:
        reports[source] = report
        if on_report:
            on_report(source, report)

    jobs: list[Job] = []
    course = assignment_bytes(assignment)  # read once for every key of this batch
    for source in sources:
        identity = (identities or {}).get(source)
        stem = (identity.stem if identity else None) or submission_stem(source)
        key = partial(cache_key, source, assignment, ctx.dataset, executor.backend,
                      identity.student_id if identity else None, assignment_part=course)
        job = Job(source, stem, key, student_id if len(sources) == 1 else None, identity)
        name = report_folder_name(stem)
        if name is None:
            report = failed_report(job, ctx, "rejected", f"the file name {source.name!r} gives no usable report "
                                   "folder name: rename it", executor.backend)
            record(source, report)
            continue
        hit = cached_report(out / name, lambda job=job: job.key, retry_failed) if use_cache and not force else None
        if hit is not None:
            result.cached += 1
            record(source, hit)
        else:
            jobs.append(job)

    if jobs and isinstance(executor, LocalExecutor) and (note := load_notice()):  # a cluster's workers are elsewhere
        console.print(note, style="yellow", markup=False, highlight=False)
    with _StopSignals() as stop, BatchProgress(Activity(executor), console=console, transient=True) as progress:

        def show() -> None:
            failed = sum(r.status != "graded" for r in reports.values())
            eta = estimate_remaining(durations, len(sources) - len(reports), executor.parallelism())
            progress.update(task, completed=len(reports), done=len(reports), failed=failed,
                            remaining=len(sources) - len(reports), cached=result.cached,
                            eta=clock(eta) if eta is not None else "after the first")

        task = progress.add_task("grading", total=len(sources), done=0, failed=0, remaining=len(sources), cached=0,
                                 eta="after the first")
        show()
        try:
            if jobs:
                executor.start(jobs, ctx)
            waiting = {job.source for job in jobs}
            while waiting and not stop.event.is_set():
                for outcome in executor.next_done(0.25):
                    if stop.event.is_set():
                        break  # finished after the stop: its commands may have been killed, so not a result
                    try:
                        _commit(outcome.folder, report_folder(out, outcome.job.stem), ctx.staging)
                    except OSError as exc:
                        raise GraderError(f"cannot put the report of {outcome.job.stem} in place: {exc}", out) from None
                    if counts_for_eta(outcome.report):
                        durations.append(outcome.report.timings["total"])
                    waiting.discard(outcome.job.source)
                    result.graded += 1
                    record(outcome.job.source, outcome.report)
                show()
            if stop.event.is_set():
                executor.stop()
                console.print(f"[yellow]interrupted[/] ({signal.Signals(stop.signum).name}): "
                              f"{len(reports)} of {len(sources)} finished; run the same command to resume")
                raise Interrupted(stop.signum)
        except BaseException:
            executor.stop()
            raise
        finally:
            executor.close()
            shutil.rmtree(ctx.staging, ignore_errors=True)
            try:
                (out / STAGING).rmdir()
            except OSError:
                pass
    result.sources = [s for s in sources if s in reports]
    result.reports = [reports[s] for s in result.sources]
    result.seconds = time.monotonic() - started
    result.durations = durations
    return result


def finish_reports(sources: Iterable[Path], reports: list[Report], out: Path, notes: dict[Path, str],
                   assignment: Assignment | None = None, extensions: dict[str, Extension] | None = None,
                   late: LatePolicy | None = None) -> None:
    """Notes on duplicate submissions, the late policy (`late`, else the rubric's), and what may reach
    the student (Gradescope's results.json, student.html) beside each report."""
    late = late or (assignment.rubric.late if assignment is not None else None)
    for source, report in zip(sources, reports):
        noted = source in notes and notes[source] not in report.flags
        if noted:
            report.flags.append(notes[source])
        if not report_folder_name(report.stem):
            continue
        folder = report_folder(out, report.stem)
        try:
            if late is not None:
                # never charged twice: a cached report is re-penalised from its own score
                apply_late(report, late, extensions)
            if noted or late is not None:  # report.json says what the gradebook and the student's page say
                write_report(report, folder)
            write_student_outputs(report, folder, late.due if late else None)
        except Exception as exc:  # noqa: BLE001 - one student's outputs failing is that student's status, not the batch's
            report.status = "crashed"
            report.message = f"the student's outputs could not be written: {type(exc).__name__}: {exc}"
            try:
                write_report(report, folder, html=False)
            except Exception:  # noqa: BLE001 - the gradebook row still says crashed
                pass


def exit_code(reports: list[Report]) -> int:
    """0 all graded; 1 some timeout, error or crashed; 2 a rejected submission (bad input)."""
    if any(r.status == "rejected" for r in reports):
        return 2
    return 1 if any(r.status in FAILED for r in reports) else 0
