"""Executors grade a batch's jobs: the local one in a thread pool here (a Dask cluster is
grader/batch/dask_client.py); each job's report is written into a staging folder."""


from __future__ import annotations

import queue
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

from grader.batch.host import fit_to_host, with_cpu_share
from grader.course.catalog import Assignment
from grader.reports.report import Report, write_report
from grader.sandbox import Sandbox
from grader.steps.lms import Identity
from grader.steps.naming import parse_stem, report_folder
from grader.steps.pipeline import grade_submission


@dataclass(frozen=True)
class Job:
    source: Path
    stem: str
    make_key: str | Callable[[], str]  # the resume cache key, or what works it out (see `key`)
    student_id: str | None = None  # for one submission whose name does not carry it
    identity: Identity | None = None  # whose it is, when an LMS named it (grader.steps.lms)

    @cached_property
    def key(self) -> str:
        """The resume cache key (grader/batch/cache.py), worked out when the job is dispatched or
        compared with a finished report, not before the batch starts: hashing every submission of a
        large batch first held up its first submission (each is hashed once either way)."""
        return self.make_key() if callable(self.make_key) else self.make_key

    def whose(self) -> str | None:
        """The student ID intake is given, as grade_submission reads it: --student-id, else the LMS's
        (a roster-identified Moodle folder of loose files carries no studentID_name of its own)."""
        return self.student_id or (self.identity.student_id if self.identity else None)


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

    def new_folder(self) -> Path:
        """A report folder of its own in the staging folder, not made yet (job_folder holds one
        named after the submission; a report written here directly saves making a folder)."""
        return self.staging / uuid.uuid4().hex


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
    if job.identity is not None and job.identity.student_id:  # an LMS's name: whose it is, as discovery found
        report.student_id, report.name = job.identity.student_id, job.identity.name
        report.origin = job.identity.origin
    return report
