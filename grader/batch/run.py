"""Batch grading: which submissions a batch holds, which of them a previous run already graded
(the resume cache), grading the rest on an executor (a local thread pool or a Dask cluster),
and collecting the reports under --out.

A report reaches --out only when its submission finished: each is graded into a staging
folder (out/.grading/) and moved into place whole, so an interrupted run never leaves a
half-graded report that the next run would take for a finished one."""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import signal
import statistics
import sys
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grader import __version__
from grader.batch.host import fit_to_host, with_cpu_share
from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.inert import for_terminal
from grader.reports.gradescope import write_student_outputs
from grader.reports.report import Report, load_report, write_report
from grader.sandbox import Sandbox
from grader.steps.lms import Identity
from grader.steps.naming import STAGING, parse_stem, report_folder, report_folder_name, submission_stem
from grader.steps.pipeline import grade_submission
from grader.verdict.late import Extension, apply_late

FAILED = ("timeout", "error", "crashed")  # what --retry-failed grades again
STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)

# ---------------------------------------------------------------- discovery


def _is_submission_entry(path: Path) -> bool:
    return path.suffix.lower() == ".zip" or (path.is_dir() and parse_stem(path.name) is not None)


def _is_batch_folder(folder: Path, assignment: Assignment) -> bool:
    """A folder of submissions (zips or studentID_name folders), not one submission."""
    if any((folder / rel).is_file() for rel in assignment.spec.editable):
        return False
    if parse_stem(folder.name):
        return False
    return any(_is_submission_entry(p) for p in folder.iterdir())


def expand_sources(paths: list[Path], assignment: Assignment) -> list[Path]:
    sources: list[Path] = []
    for path in paths:
        if not path.exists():
            raise GraderError("no such file or folder", path)
        if path.is_dir() and _is_batch_folder(path, assignment):
            sources.extend(sorted(p for p in path.iterdir() if _is_submission_entry(p)))
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
        except (zipfile.BadZipFile, OSError, ValueError):  # ValueError: member names flagged UTF-8 that are not
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
        batch = path.is_dir() and any(_is_submission_entry(p) for p in path.iterdir())
        if batch:
            submissions += sorted(p for p in path.iterdir() if p.suffix.lower() == ".zip" or p.is_dir())
        else:
            submissions.append(path)
    votes: dict[str, int] = {}
    for submission in submissions:
        best = _best_fit(_file_names(submission), assignments)
        key = best[0].id if len(best) == 1 else " or ".join(a.id for a in best)
        if key:
            votes[key] = votes.get(key, 0) + 1
    if len(votes) == 1 and " or " not in next(iter(votes)):
        return next(a for a in assignments if a.id == next(iter(votes)))
    seen = ", ".join(f"{k} ({n})" for k, n in votes.items()) or "none holds all the editable files of one"
    raise GraderError(
        f"cannot tell which assignment to grade (submissions fit: {seen}; assignments: "
        f"{', '.join(a.id for a in assignments)}): pass --assignment"
    )


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
            notes[winner] = (
                f"student {student_id} submitted {len(paths)} times; graded the latest ({winner.name}), "
                f"ignored {', '.join(p.name for p in paths[:-1])}"
            )
    return [s for s in sources if s in keep], notes


# ---------------------------------------------------------------- resume cache


def _hash_tree(digest, root: Path) -> None:
    if root.is_file():
        digest.update(root.read_bytes())
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())


def cache_key(source: Path, assignment: Assignment, dataset: str | None, backend: str) -> str:
    """Changes when the submission, the assignment (spec, rubric, tests, skeleton) or the grader does.
    The same on the client of a cluster run and in a local run, so either resumes the other."""
    digest = hashlib.sha256(f"{__version__}|{dataset}|{backend}".encode())
    for root in (source, assignment.folder, assignment.rubric_path, assignment.skeleton_dir):
        digest.update(b"\1")
        if root.exists():
            _hash_tree(digest, root)
    return digest.hexdigest()


def cached_report(folder: Path, key: str, retry_failed: bool = False) -> Report | None:
    """The finished report of an earlier run of the same submission, assignment and grader, if any.
    Failed ones (timeout, error, crashed) count as finished unless retry_failed."""
    path = folder / "report.json"
    if not path.is_file():
        return None
    try:
        report = load_report(path)
    except (ValueError, OSError):
        return None
    if report.cache_key != key or (retry_failed and report.status in FAILED):
        return None
    return report


# ---------------------------------------------------------------- executors


@dataclass(frozen=True)
class Job:
    source: Path
    stem: str
    key: str
    student_id: str | None = None  # for one submission whose name does not carry it
    identity: Identity | None = None  # whose it is, when an LMS named it (grader.steps.lms)


@dataclass
class Outcome:
    job: Job
    report: Report
    folder: Path  # the report folder, still in staging


@dataclass
class BatchContext:
    assignment: Assignment
    dataset: str | None
    staging: Path  # a fresh folder under out/.grading for this run

    def job_folder(self) -> Path:
        folder = self.staging / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder


class Executor(Protocol):
    backend: str  # the sandbox backend the submissions run in; part of the cache key

    def start(self, jobs: list[Job], ctx: BatchContext) -> None: ...

    def next_done(self, timeout: float) -> list[Outcome]:
        """Outcomes finished since the last call, waiting up to `timeout` seconds for one."""
        ...

    def parallelism(self) -> int: ...

    def activity(self) -> list[tuple[str, str]]:
        """(slot or worker, what it does now) for the progress display."""
        ...

    def stop(self) -> None:
        """Start nothing new and end what runs, within seconds."""
        ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class Stopped(Exception):
    """Raised into a submission's pipeline when the batch stops: it starts no new command."""


class StoppableSandbox:
    """A sandbox that refuses to start commands once the batch is stopping, and kills what runs."""

    def __init__(self, sandbox: Sandbox):
        self._inner = sandbox
        self.name = sandbox.name
        self.stopped = threading.Event()

    def python(self) -> str:
        return self._inner.python()

    def run(self, request):
        if self.stopped.is_set():
            raise Stopped("the batch was stopped")
        return self._inner.run(request)

    def cancel_all(self) -> None:
        self.stopped.set()
        cancel = getattr(self._inner, "cancel_all", None)
        if cancel:
            cancel()

    def __getattr__(self, name):
        return getattr(self._inner, name)


class LocalExecutor:
    """`jobs` submissions at once in threads of this process; each runs its commands through the
    sandbox (subprocesses or containers), so threads are enough."""

    def __init__(self, sandbox: Sandbox, jobs: int = 1):
        self.sandbox = StoppableSandbox(sandbox)
        self.backend = sandbox.name
        self.jobs = max(1, jobs)
        self._todo: deque[Job] = deque()
        self._done: queue.Queue[Outcome] = queue.Queue()
        self._lock = threading.Lock()
        self._activity: dict[str, str] = {}
        self._threads: list[threading.Thread] = []

    def parallelism(self) -> int:
        return self.jobs

    def describe(self) -> str:
        return f"{self.jobs} at a time on this machine, {self.backend} backend"

    def start(self, jobs: list[Job], ctx: BatchContext) -> None:
        self._todo.extend(jobs)
        job_assignment = fit_to_host(with_cpu_share(ctx.assignment, self.jobs), self.jobs, self.sandbox,
                                     notice=lambda text: print(text, file=sys.stderr))
        for n in range(min(self.jobs, len(jobs))):
            slot = f"job {n + 1}"
            self._activity[slot] = "idle"
            # Daemon threads: a stopped batch exits without waiting for a pipeline to notice.
            thread = threading.Thread(target=self._work, args=(slot, job_assignment, ctx), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self, slot: str, assignment: Assignment, ctx: BatchContext) -> None:
        while not self.sandbox.stopped.is_set():
            with self._lock:
                if not self._todo:
                    break
                job = self._todo.popleft()
            self._activity[slot] = job.stem
            folder = ctx.staging / uuid.uuid4().hex

            def note(what: str, stem: str = job.stem) -> None:
                self._activity[slot] = f"{stem}: {what}"

            try:
                folder.mkdir(parents=True)
                report = grade_submission(job.source, assignment, self.sandbox, folder, dataset=ctx.dataset,
                                          student_id=job.student_id, progress=note, cache_key=job.key,
                                          identity=job.identity)
            except Exception as exc:  # noqa: BLE001 - e.g. writing the report failed; the batch goes on
                report = failed_report(job, ctx, "error", f"internal error: {type(exc).__name__}: {exc}", self.backend)
                try:
                    write_report(report, report_folder(folder, job.stem))
                except OSError:
                    pass  # the commit names the problem
            self._done.put(Outcome(job, report, report_folder(folder, job.stem)))
        self._activity[slot] = "idle"

    def next_done(self, timeout: float) -> list[Outcome]:
        try:
            got = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                got.append(self._done.get_nowait())
            except queue.Empty:
                return got

    def activity(self) -> list[tuple[str, str]]:
        return sorted(self._activity.items())

    def stop(self, grace: float = 3.0) -> None:
        with self._lock:
            self._todo.clear()
        self.sandbox.cancel_all()
        # A thread may have been starting a command as the first cancel ran: let the pipelines
        # notice the stop, then kill whatever they started meanwhile.
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.sandbox.cancel_all()

    def close(self) -> None:
        pass


def failed_report(job: Job, ctx: BatchContext, status: str, message: str, backend: str) -> Report:
    """A report for a submission the pipeline could not report on itself (a crashed worker)."""
    dataset = ctx.dataset
    report = Report(source=str(job.source), stem=job.stem, assignment=ctx.assignment.id, dataset=dataset,
                    backend=backend, status=status, message=message,
                    max_score=ctx.assignment.rubric.max_score(dataset), cache_key=job.key)
    report.student_id, report.name = parse_stem(job.stem) or (job.student_id, None)
    return report


# ---------------------------------------------------------------- progress


def inert(text: str) -> str:
    """A name a student chose, safe on the TA's terminal: no control characters, no rich markup."""
    return for_terminal(text)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def estimate_remaining(durations: list[float], remaining: int, parallelism: int) -> float | None:
    """Seconds left: the mean time of the submissions graded so far, times those left, over the
    submissions graded at once. None until one has finished."""
    if not durations:
        return None
    return statistics.fmean(durations) * remaining / max(1, parallelism)


class _Activity:
    def __init__(self, executor: Executor):
        self.executor = executor

    def __rich__(self):
        table = Table.grid(padding=(0, 2))
        for slot, what in self.executor.activity():
            table.add_row(f"  [dim]{inert(slot)}[/]", inert(what)[:100])
        return table


class BatchProgress(Progress):
    """The bar, then one line per job slot or worker saying what it grades."""

    def __init__(self, activity: _Activity, **kwargs):
        self.activity_view = activity
        super().__init__(
            TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
            TextColumn("done {task.fields[done]}, failed {task.fields[failed]}, remaining {task.fields[remaining]}, "
                       "cached {task.fields[cached]}"),
            TimeElapsedColumn(), TextColumn("eta {task.fields[eta]}"), **kwargs)

    def get_renderables(self):
        yield from super().get_renderables()
        yield self.activity_view


# ---------------------------------------------------------------- the batch


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
    for source in sources:
        stem = submission_stem(source)
        key = cache_key(source, assignment, ctx.dataset, executor.backend)
        job = Job(source, stem, key, student_id if len(sources) == 1 else None, (identities or {}).get(source))
        name = report_folder_name(stem)
        if name is None:
            report = failed_report(job, ctx, "rejected", f"the file name {source.name!r} gives no usable report "
                                   "folder name: rename it", executor.backend)
            record(source, report)
            continue
        hit = cached_report(out / name, key, retry_failed) if use_cache and not force else None
        if hit is not None:
            result.cached += 1
            record(source, hit)
        else:
            jobs.append(job)

    with _StopSignals() as stop, BatchProgress(_Activity(executor), console=console, transient=True) as progress:

        def show() -> None:
            failed = sum(r.status != "graded" for r in reports.values())
            eta = estimate_remaining(durations, len(sources) - len(reports), executor.parallelism())
            progress.update(task, completed=len(reports), done=len(reports), failed=failed,
                            remaining=len(sources) - len(reports), cached=result.cached,
                            eta=_clock(eta) if eta is not None else "after the first")

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
                    if "total" in outcome.report.timings:
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
                   assignment: Assignment | None = None, extensions: dict[str, Extension] | None = None) -> None:
    """Notes on duplicate submissions, the rubric's late policy, and what may reach the student
    (Gradescope's results.json, student.html) beside each report."""
    late = assignment.rubric.late if assignment is not None else None
    for source, report in zip(sources, reports):
        if source in notes and notes[source] not in report.flags:
            report.flags.append(notes[source])
        if not report_folder_name(report.stem):
            continue
        folder = report_folder(out, report.stem)
        if late is not None:
            apply_late(report, late, extensions)  # never charged twice: a cached report is re-penalised from its own score
            write_report(report, folder)
        write_student_outputs(report, folder, late.due if late else None)


def exit_code(reports: list[Report]) -> int:
    """0 all graded; 1 some timeout, error or crashed; 2 a rejected submission (bad input)."""
    if any(r.status == "rejected" for r in reports):
        return 2
    return 1 if any(r.status in FAILED for r in reports) else 0
