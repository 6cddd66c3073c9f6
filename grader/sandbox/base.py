"""The sandbox interface: what a sandboxed command gets and what comes back."""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from grader.course.spec import SandboxLimits
from grader.inside.exit_codes import STEP_BACKSTOP_EXIT, STEP_LIMIT_EXIT

TRUNCATION_NOTE = "\n[grader] output truncated after {limit} bytes\n"


@dataclass(frozen=True)
class RunRequest:
    argv: list[str]
    workspace: Path  # the only writable folder; the command runs inside it
    log_path: Path  # receives stdout and stderr, capped at limits.output_bytes
    limits: SandboxLimits
    env: dict[str, str] = field(default_factory=dict)  # on top of a scrubbed base environment
    data_dirs: tuple[Path, ...] = ()  # read-only inputs (datasets)
    # The grader's own processes (trusted steps, hidden tests) may start from an interpreter that
    # imported these modules already (the local backend's grader/sandbox/warm.py); never set for
    # a student's command.
    preload: tuple[str, ...] | None = None
    course_code_only: bool = False  # no student code runs in it (a trusted step; the reference's hidden tests)


LIMIT_CPU = "cpu"
LIMIT_WALL = "wall"  # the hard wall-clock ceiling: still computing, but far too slowly
LIMIT_IDLE = "idle"  # no CPU used for the idle interval, nothing waiting for a core: sleeping or blocked
LIMIT_MEMORY = "memory"
LIMIT_WORKSPACE = "workspace"


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None
    timed_out: bool
    seconds: float
    output_truncated: bool
    error: str | None = None  # the backend could not start the command at all
    limit: str | None = None  # which limit stopped it: cpu, wall, memory
    cpu_seconds: float | None = None  # CPU time the step used, where it could be measured
    limits: SandboxLimits | None = None
    attempts: int = 1
    budget: str | None = None  # the submission's budget that stopped it, e.g. "CPU budget of 1050 s"
    memory_peak_mb: float | None = None  # peak resident memory of the step (process tree or container), where measured

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None

    @property
    def stopped_by_limit(self) -> bool:
        """A time limit ended the step: the sandbox's, or the step's own (exit 124)."""
        return self.timed_out or (self.error is None and self.exit_code in (STEP_LIMIT_EXIT, STEP_BACKSTOP_EXIT))

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.timed_out and self.budget:
            used = f", {self.cpu_seconds:.0f} s of CPU used" if self.cpu_seconds is not None else ""
            return f"stopped when the submission's {self.budget} was spent ({self.seconds:.0f} s of wall clock{used})"
        if self.timed_out and self.limit == LIMIT_CPU and self.limits:
            return f"stopped at the CPU-time limit of {self.limits.cpu_seconds} s ({self.seconds:.0f} s of wall clock)"
        if self.timed_out and self.limit == LIMIT_IDLE and self.limits:
            used = f", {self.cpu_seconds:.0f} s of CPU used" if self.cpu_seconds is not None else ""
            return (f"stopped as idle: no CPU used for {self.limits.idle_interval():.0f} s, sleeping or blocked "
                    f"({self.seconds:.0f} s of wall clock{used})")
        if self.timed_out and self.limits:
            used = [f"{self.cpu_seconds:.0f} s of CPU used"] if self.cpu_seconds is not None else []
            used += ["run twice"] if self.attempts > 1 else []
            return f"stopped at the wall-clock ceiling of {self.limits.wall_ceiling():.0f} s" + (
                f" ({', '.join(used)})" if used else "")
        if self.timed_out:
            return f"stopped by a time limit after {self.seconds:.0f} s"
        if self.exit_code == STEP_LIMIT_EXIT:
            return "stopped at a CPU-time limit of its own"
        if self.exit_code == STEP_BACKSTOP_EXIT:
            return "stopped by a wall-clock backstop of its own" + (" (run twice)" if self.attempts > 1 else "")
        if self.exit_code and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        if self.exit_code == 137:
            return "killed (out of memory or by signal 9)"
        return f"exit code {self.exit_code}"


class Sandbox(Protocol):
    name: str

    def python(self) -> str:
        """The interpreter commands run with inside this sandbox."""
        ...

    def run(self, request: RunRequest) -> RunResult: ...

    def cancel_all(self) -> None:
        """Stop every command of this run within seconds and refuse to start new ones."""
        ...


CANCELLED = "cancelled: the grader is stopping"


def step_environment(limits: SandboxLimits) -> dict[str, str]:
    """The environment every step gets in either backend (each adds its own PATH, HOME, TMPDIR).

    Thread pools are sized to the cores the assignment gives a step (torch's intra-op pool reads
    OMP_NUM_THREADS), the same when --jobs or a cluster's workers split the machine: a sum split
    over another number of threads rounds differently, and training carries the difference into
    the scores (a busy machine makes a step slower, never different). A thread waiting at a
    barrier sleeps instead of spinning: on a busy machine a spinning thread burns CPU time charged
    to the student while its partner waits to be scheduled, so the same code would use more CPU
    beside other work than alone. The handouts' run.sh export the same variables, so a student's
    own CPU figure (and results) match the grader's."""
    threads = str(limits.thread_count())
    return {
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "OMP_WAIT_POLICY": "PASSIVE",  # OpenMP (GNU and Intel): threads at a barrier sleep
        "KMP_BLOCKTIME": "0",  # Intel OpenMP / MKL: no spinning after a parallel region
        "GOMP_SPINCOUNT": "0",  # GNU OpenMP (torch's CPU wheels): no spinning before sleeping
        "GRADER_SANDBOX": "1",
    }


def open_log(log_path: Path):
    """The step's log, created fresh: a link or anything else planted at its path is removed
    first, and the file is opened without following links."""
    from grader.safe_fs import open_new

    log_path.parent.mkdir(parents=True, exist_ok=True)
    return open_new(log_path)


def pump_output(stream, log, cap: int, truncated: list[bool]) -> None:
    """Copy a command's output into its (already open) log up to `cap` bytes; drain (and drop)
    the rest so the command never blocks on a full pipe."""
    written = 0
    while chunk := stream.read(65536):
        if written < cap:
            part = chunk[: cap - written]
            log.write(part)
            written += len(part)
            if len(part) < len(chunk):
                truncated[0] = True
                log.write(TRUNCATION_NOTE.format(limit=cap).encode())
        log.flush()


@dataclass(frozen=True)
class Reading:
    """One poll's look at a running step, all its measures from the same look (a local step's
    process tree is followed once a poll): the CPU time it used, its resident memory in bytes,
    and `held()`, whether a thread of it waits for a core or is held stopped (asked only when its
    CPU time has stood still for the idle interval). None where a measure is not readable."""

    cpu_seconds: float | None = None
    memory_bytes: int | None = None
    held: Callable[[], bool] | None = None


@dataclass
class Watch:
    """What supervise found: which limit ended the step, the CPU time it used, the peak resident
    memory (the highest reading's `memory_bytes`; wait4's ru_maxrss is not used: a child forked
    from the grader counts the grader's own resident pages in it)."""

    limit: str | None = None
    cpu_seconds: float | None = None
    truncated: bool = False
    memory_peak_bytes: int | None = None

    def note_memory(self, value: int | None) -> None:
        if value is not None and (self.memory_peak_bytes is None or value > self.memory_peak_bytes):
            self.memory_peak_bytes = value


POLL_SECONDS = 0.2


def supervise(proc: subprocess.Popen, request: RunRequest, log, stop: Callable[[bool], None],
              measure: Callable[[], Reading] | None = None) -> Watch:
    """Log the output of a started command into the open `log` and hold it to its limits, from
    one `measure()` a poll (a Reading): its CPU time (the limit that counts); the idle interval,
    for a step whose CPU time has not grown for that long while the reading's `held()` (a thread
    waiting for a core, or held stopped) says it is not merely starved; and the hard wall-clock
    ceiling. Without a CPU measure the idle interval runs from the start, a plain wall-clock
    backstop. The peak of the readings' resident memory is the step's.
    `stop(timed_out)` runs once the command ended or hit a limit, before the log is closed. The
    note saying which limit fired is written through the open log, never through its path."""
    limits = request.limits
    truncated = [False]
    pump = threading.Thread(target=pump_output, args=(proc.stdout, log, limits.output_bytes, truncated), daemon=True)
    pump.start()
    watch = Watch()
    started = time.monotonic()
    ceiling = started + limits.wall_ceiling()
    idle = limits.idle_interval()
    progress = started  # when the step last gained CPU time or was seen waiting for a core
    try:
        while True:
            if _wait_a_while(proc):
                break
            reading = measure() if measure else Reading()
            watch.note_memory(reading.memory_bytes)
            now = time.monotonic()
            used = reading.cpu_seconds
            if used is not None:
                if watch.cpu_seconds is None or used > watch.cpu_seconds:
                    progress = now
                watch.cpu_seconds = used
                if used > limits.cpu_seconds:
                    watch.limit = LIMIT_CPU
                    break
            if now > ceiling:
                watch.limit = LIMIT_WALL
                break
            if now - progress > idle:
                if used is not None and reading.held is not None and reading.held():
                    progress = now  # starved or held, not stalled
                    continue
                watch.limit = LIMIT_IDLE
                break
    finally:
        stop(watch.limit is not None)
        proc.wait()
    pump.join(timeout=10)
    cpu = f" after {watch.cpu_seconds:.0f} s of CPU" if watch.cpu_seconds is not None else ""
    if watch.limit == LIMIT_CPU:
        log.write(f"\n[grader] stopped at the CPU-time limit of {limits.cpu_seconds} s\n".encode())
    elif watch.limit == LIMIT_IDLE:
        log.write(f"\n[grader] stopped as idle{cpu}: no CPU used for {idle:.0f} s (sleeping or blocked)\n".encode())
    elif watch.limit == LIMIT_WALL:
        log.write(f"\n[grader] stopped at the wall-clock ceiling of {limits.wall_ceiling():.0f} s{cpu}\n".encode())
    log.flush()
    watch.truncated = truncated[0]
    return watch


def _wait_a_while(proc: subprocess.Popen) -> bool:
    """Whether `proc` ended within POLL_SECONDS."""
    try:
        proc.wait(timeout=POLL_SECONDS)
    except subprocess.TimeoutExpired:
        return False
    return True


def run_with_retry(sandbox: Sandbox, request: RunRequest, before_retry: Callable[[], None] | None = None,
                   budget: Budget | None = None) -> RunResult:
    """Run a step; when only the wall-clock ceiling stopped it (a busy or stalled machine, not
    a step over its CPU budget), run it once more. A step stopped as idle is not: a busy machine
    leaves a step waiting for a core, which never counts as idle. The result says how many runs
    it took. With a `budget`, each run gets at most what is left of it and is charged to it; a
    step the budget stopped is not run again."""
    result = _budgeted_run(sandbox, request, budget)
    backstop = ((result.timed_out and result.limit == LIMIT_WALL)
                or (result.error is None and result.exit_code == STEP_BACKSTOP_EXIT))
    if not backstop or result.budget or (budget and budget.spent()):
        return result
    if before_retry:
        before_retry()
    again = _budgeted_run(sandbox, request, budget)
    return replace(again, attempts=2)


def _budgeted_run(sandbox: Sandbox, request: RunRequest, budget: Budget | None) -> RunResult:
    if budget is None:
        return sandbox.run(request)
    limits = budget.cap(request.limits)
    started = time.monotonic()
    result = sandbox.run(replace(request, limits=limits))
    budget.charge(result.cpu_seconds, time.monotonic() - started)
    stopped_by = budget.stopped_by(result, request.limits, limits)
    return replace(result, budget=stopped_by) if stopped_by else result


@dataclass
class Budget:
    """What all of one submission's steps may use together (SandboxLimits.submission_budget):
    CPU seconds (as the backends measure them; a step too short to measure costs none) and
    wall-clock seconds of the steps' runs. Each step runs under its own limits cut to what is
    left; once either is spent, the steps not yet started are skipped."""

    cpu_seconds: float
    wall_seconds: float
    cpu_used: float = 0.0
    wall_used: float = 0.0

    def spent(self) -> str | None:
        """Why no further step may start (one line), or None."""
        if self.cpu_used >= self.cpu_seconds:
            return f"the submission's CPU budget of {self.cpu_seconds:g} s is spent ({self.cpu_used:.0f} s used)"
        if self.wall_used >= self.wall_seconds:
            return (f"the submission's wall-clock budget of {self.wall_seconds:g} s is spent "
                    f"({self.wall_used:.0f} s used)")
        return None

    def cap(self, limits: SandboxLimits) -> SandboxLimits:
        """A step's limits, none beyond what is left of the budget: its CPU limit, and its idle
        interval and wall-clock ceiling (the backstop scaled so the ceiling fits)."""
        cpu_left = max(1, math.ceil(self.cpu_seconds - self.cpu_used))
        wall_left = max(1.0, self.wall_seconds - self.wall_used)
        update: dict = {}
        if cpu_left < limits.cpu_seconds:
            update["cpu_seconds"] = cpu_left
        if wall_left < limits.wall_ceiling():
            update["wall_seconds"] = min(limits.wall_backstop(), wall_left / limits.ceiling_factor)
            update["idle_seconds"] = min(limits.idle_interval(), wall_left)
        return limits.model_copy(update=update) if update else limits

    def charge(self, cpu_seconds: float | None, wall_seconds: float) -> None:
        self.cpu_used += cpu_seconds or 0.0
        self.wall_used += wall_seconds

    def stopped_by(self, result: RunResult, own: SandboxLimits, capped: SandboxLimits) -> str | None:
        """Which budget stopped a step: a limit that fired only because the budget cut it."""
        if not result.timed_out:
            return None
        if result.limit == LIMIT_CPU and capped.cpu_seconds < own.cpu_seconds:
            return f"CPU budget of {self.cpu_seconds:g} s"
        if ((result.limit == LIMIT_IDLE and capped.idle_interval() < own.idle_interval())
                or (result.limit == LIMIT_WALL and capped.wall_ceiling() < own.wall_ceiling())):
            return f"wall-clock budget of {self.wall_seconds:g} s"
        return None


def workspace_overflow(workspace: Path, limits: SandboxLimits) -> str | None:
    """Why a workspace is over its limits after a step (too many files, too many bytes, too
    deep), or None. Sizes are the files' apparent sizes, so a sparse file counts in full."""
    from grader.safe_fs import walk

    total = 0
    try:
        for entry in walk(workspace, max_entries=limits.workspace_files):
            total += entry.size if entry.is_file else 0
            if total > limits.workspace_mb * 1024 * 1024:
                return f"the workspace grew past its limit of {limits.workspace_mb} MB"
    except OSError as exc:
        return (f"the workspace holds {exc.strerror or exc} "
                f"(limit {limits.workspace_files} files, nested at most 32 deep)")
    return None


@dataclass
class StepRecord:
    name: str  # the log's name: which step
    result: RunResult


class GuardedSandbox:
    """A sandbox as the pipeline uses it: every step is recorded (so a limit or a backend that
    did not start decides the submission's status whichever module ran the step), the
    workspace is checked against its limits after each step, and a step stopped only by the
    wall-clock ceiling is run once more, after `before_retry` (restoring protected files)."""

    def __init__(self, inner: Sandbox, before_retry: Callable[[], None] | None = None, budget: Budget | None = None):
        self.inner = inner
        self.name = inner.name
        self.before_retry = before_retry
        self.budget = budget
        self.steps: list[StepRecord] = []
        self.skipped: list[tuple[str, str]] = []  # steps not started because time ran out: (name, why)

    def without_budget(self) -> GuardedSandbox:
        """The same sandbox, its steps recorded in the same list, charging no budget: for runs
        that are not the submission's (the reference's hidden-test outputs, once per build)."""
        twin = GuardedSandbox(self.inner, self.before_retry)
        twin.steps = self.steps
        return twin

    def spent(self) -> str | None:
        """Why the submission's budget lets no further step start, or None."""
        return self.budget.spent() if self.budget else None

    def python(self) -> str:
        return self.inner.python()

    def cancel_all(self) -> None:
        cancel = getattr(self.inner, "cancel_all", None)
        if cancel:
            cancel()

    def run(self, request: RunRequest) -> RunResult:
        result = run_with_retry(self.inner, request, self.before_retry, self.budget)
        overflow = workspace_overflow(request.workspace, request.limits) if result.error is None else None
        if overflow:
            result = replace(result, error=overflow, limit=LIMIT_WORKSPACE)
        self.steps.append(StepRecord(request.log_path.name, result))
        return result
