"""The runner interface: what a sandboxed command gets and what comes back."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from grader.spec import SandboxLimits

TRUNCATION_NOTE = "\n[grader] output truncated after {limit} bytes\n"


@dataclass(frozen=True)
class RunRequest:
    argv: list[str]
    workspace: Path  # the only writable folder; the command runs inside it
    log_path: Path  # receives stdout and stderr, capped at limits.output_bytes
    limits: SandboxLimits
    env: dict[str, str] = field(default_factory=dict)  # on top of a scrubbed base environment
    data_dirs: tuple[Path, ...] = ()  # read-only inputs (datasets)


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None
    timed_out: bool
    seconds: float
    output_truncated: bool
    error: str | None = None  # the runner could not start the command at all

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.timed_out:
            return f"killed after the wall-clock limit ({self.seconds:.0f} s)"
        if self.exit_code and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        if self.exit_code == 137:
            return "killed (out of memory or by signal 9)"
        return f"exit code {self.exit_code}"


class Runner(Protocol):
    name: str

    def python(self) -> str:
        """The interpreter commands run with inside this sandbox."""
        ...

    def run(self, request: RunRequest) -> RunResult: ...


def pump_output(stream, log_path: Path, cap: int, truncated: list[bool]) -> None:
    """Copy a command's output into its log up to `cap` bytes; drain (and drop) the rest so
    the command never blocks on a full pipe."""
    written = 0
    with open(log_path, "wb") as log:
        while chunk := stream.read(65536):
            if written < cap:
                part = chunk[: cap - written]
                log.write(part)
                written += len(part)
                if len(part) < len(chunk):
                    truncated[0] = True
                    log.write(TRUNCATION_NOTE.format(limit=cap).encode())
            log.flush()


def supervise(proc: subprocess.Popen, request: RunRequest, stop: Callable[[bool], None]) -> tuple[bool, bool]:
    """Log the output of a started command and hold it to the wall clock. `stop(timed_out)` runs
    once the command ended or ran out of time, before the log is closed. Returns
    (timed_out, output_truncated)."""
    truncated = [False]
    pump = threading.Thread(target=pump_output, args=(proc.stdout, request.log_path, request.limits.output_bytes, truncated),
                            daemon=True)
    pump.start()
    timed_out = False
    try:
        proc.wait(timeout=request.limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        stop(timed_out)
        proc.wait()
    pump.join(timeout=10)
    if timed_out:
        with open(request.log_path, "ab") as log:
            log.write(f"\n[grader] killed after the wall-clock limit of {request.limits.wall_seconds:g} s\n".encode())
    return timed_out, truncated[0]
