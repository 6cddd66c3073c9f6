"""The runner interface: what a sandboxed command gets and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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
