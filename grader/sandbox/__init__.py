"""Step 3, sandbox: run a command under limits. Backends share the Runner interface."""

from grader.sandbox.base import RunRequest, RunResult, Runner
from grader.sandbox.local import LocalRunner

__all__ = ["RunRequest", "RunResult", "Runner", "LocalRunner", "make_runner"]


def make_runner(backend: str) -> Runner:
    if backend == "local":
        return LocalRunner()
    from grader.errors import GraderError

    raise GraderError(f"unknown backend {backend!r} (available: local)")
