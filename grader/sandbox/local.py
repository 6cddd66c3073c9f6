"""The local backend: a subprocess under rlimits. A convenience for students and for tests,
not a security boundary (that is the Docker backend's job)."""

from __future__ import annotations

import os
import pwd
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from grader.sandbox.base import RunRequest, RunResult, supervise
from grader.spec import SandboxLimits


def base_environment(limits: SandboxLimits, home: Path) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's own leaks into student code."""
    threads = str(max(1, int(limits.cpus)))
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(home / ".tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "GRADER_SANDBOX": "1",
    }


RUN_AS_ENV = "GRADER_RUN_AS"  # an unprivileged account student code runs as (the Gradescope bundle sets it)


def _limit_resources(limits: SandboxLimits, user: pwd.struct_passwd | None = None):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    return apply


def _hand_over(workspace: Path, user: pwd.struct_passwd) -> None:
    """The workspace becomes the account's; the grader's own temporary folder around it only
    lets it through (no listing), so the account reaches nothing else the grader holds."""
    for path in [workspace, *workspace.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)
    parent = workspace.parent
    if parent.name.startswith("grader-"):
        os.chmod(parent, 0o711)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class LocalRunner:
    name = "local"

    def __init__(self, run_as: str | None = None) -> None:
        self._live: set[int] = set()  # process groups still running, for cancel_all
        self._lock = threading.Lock()
        self.run_as = run_as or os.environ.get(RUN_AS_ENV) or None

    def cancel_all(self) -> None:
        """Kill every command still running (Ctrl-C of a batch): their groups do not get the SIGINT."""
        with self._lock:
            for pgid in list(self._live):
                _kill_group(pgid)

    def python(self) -> str:
        return sys.executable

    def run(self, request: RunRequest) -> RunResult:
        limits = request.limits
        env = base_environment(limits, request.workspace)
        env.update(request.env)
        Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        user = None
        if self.run_as:
            try:
                user = pwd.getpwnam(self.run_as)
            except KeyError:
                return RunResult(None, False, 0.0, False, error=f"no account {self.run_as!r} to run student code as")
            _hand_over(request.workspace, user)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                request.argv,
                cwd=request.workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so the whole tree can be killed
                preexec_fn=_limit_resources(limits, user),
            )
        except OSError as exc:
            request.log_path.write_text(f"[grader] could not start {request.argv[0]}: {exc}\n")
            return RunResult(None, False, 0.0, False, error=f"could not start {request.argv[0]}: {exc.strerror or exc}")
        with self._lock:
            self._live.add(proc.pid)
        try:
            # Children left behind (a daemon, a sleeping grandchild) go too, timeout or not.
            timed_out, truncated = supervise(proc, request, stop=lambda _: _kill_group(proc.pid))
        finally:
            with self._lock:
                self._live.discard(proc.pid)
        return RunResult(proc.returncode, timed_out, time.monotonic() - start, truncated)
