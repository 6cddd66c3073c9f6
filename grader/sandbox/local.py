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

from grader.course.spec import SandboxLimits
from grader.sandbox import warm
from grader.sandbox.base import CANCELLED, RunRequest, RunResult, open_log, step_environment, supervise
from grader.sandbox.cpu import SessionMeter

GRADER_ROOT = str(Path(__file__).resolve().parent.parent.parent)


def _grader_path() -> dict[str, str]:
    """A grader run from a source checkout through PYTHONPATH (a developer's worktree) runs the
    same checkout's `python -m grader.inside.notebook` in the sandbox; no other entry is passed on."""
    entries = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": GRADER_ROOT} if GRADER_ROOT in entries else {}


def base_environment(limits: SandboxLimits, home: Path) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's own leaks into student code."""
    return {
        **_grader_path(),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(home / ".tmp"),
        **step_environment(limits),
    }


RUN_AS_ENV = "GRADER_RUN_AS"  # an unprivileged account student code runs as (the Gradescope bundle sets it)


def _rlimits(limits: SandboxLimits) -> list[tuple[str, int, int]]:
    """(resource name, soft, hard) for every limit a step's processes get."""
    workspace = limits.workspace_mb * 1024 * 1024  # no single file past the workspace's size
    memory = limits.memory_mb * 1024 * 1024
    return [
        # per process, a second line behind the session's CPU budget the supervisor enforces
        ("RLIMIT_CPU", limits.cpu_seconds + 5, limits.cpu_seconds + 10),
        ("RLIMIT_AS", memory, memory),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_FSIZE", workspace, workspace),
    ]


def _limit_resources(limits: SandboxLimits, user: pwd.struct_passwd | None = None):
    rlimits = [(getattr(resource, name), soft, hard) for name, soft, hard in _rlimits(limits)]

    def apply() -> None:
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    return apply


def _hand_over(workspace: Path, user: pwd.struct_passwd, limits: SandboxLimits) -> None:
    """The workspace becomes the account's; the grader's own temporary folder around it only
    lets it through (no listing), so the account reaches nothing else the grader holds. Links
    are changed themselves, never followed; the walk stops at the workspace's limits."""
    from grader.safe_fs import walk

    for path in [str(workspace), *(e.path for e in walk(workspace, max_entries=limits.workspace_files + 100))]:
        os.lchown(path, user.pw_uid, user.pw_gid)
    parent = workspace.parent
    if parent.name.startswith("grader-"):
        os.chmod(parent, 0o711)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class LocalSandbox:
    name = "local"

    def __init__(self, run_as: str | None = None) -> None:
        self._live: set[int] = set()  # process groups still running, for cancel_all
        self._lock = threading.Lock()
        self._cancelled = False
        self.run_as = run_as or os.environ.get(RUN_AS_ENV) or None

    def cancel_all(self) -> None:
        """Kill every command still running and start no new one (a batch that is stopping):
        their process groups do not get the terminal's SIGINT."""
        with self._lock:
            self._cancelled = True
            for pgid in list(self._live):
                _kill_group(pgid)

    def python(self) -> str:
        return sys.executable

    def _warm_start(self, request: RunRequest, env: dict[str, str], user: pwd.struct_passwd | None):
        """The command forked from a preloaded interpreter (grader/sandbox/warm.py) where the
        grader asked for one and the command is a plain `python SCRIPT` or `python -m MODULE`;
        None to start it fresh (also when no preloaded interpreter can be had)."""
        args = warm.warm_args(request.argv, self.python()) if request.preload is not None and warm.enabled() else None
        if args is None or warm.import_time_env(request.env):  # its own import-time settings: a fresh start
            return None
        try:
            interpreter = self._preloaded(request.limits, request.preload)
            return interpreter.spawn(args, request.workspace, env, _rlimits(request.limits),
                                     (user.pw_uid, user.pw_gid) if user else None, request.course_code_only)
        except warm.WarmStartError:
            return None

    def _preloaded(self, limits: SandboxLimits, preload: tuple[str, ...]) -> warm.WarmInterpreter:
        """The preloaded interpreter for steps with these limits and modules, reserved for one
        spawn: its environment is what the step environment sets at import time (threads,
        locale, PYTHON*, PATH), the same for every workspace."""
        env = warm.import_time_env(base_environment(limits, Path(os.devnull)))
        return warm.POOL.get(self.python(), env, preload)

    def warm_up(self, limits: SandboxLimits, preload: tuple[str, ...]) -> float | None:
        """Start the preloaded interpreter commands with these limits and modules will fork from
        (once per grader process; a batch's first trusted step or hidden tests need not wait
        for it). Its start-up seconds (from when it first started); None when there is none."""
        if not warm.enabled():
            return None
        try:
            interpreter = self._preloaded(limits, preload)
        except warm.WarmStartError:
            return None
        interpreter.release()
        return interpreter.start_seconds

    def run(self, request: RunRequest) -> RunResult:
        limits = request.limits
        env = base_environment(limits, request.workspace)
        env.update(request.env)
        Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
        user = None
        if self.run_as:
            try:
                user = pwd.getpwnam(self.run_as)
            except KeyError:
                return RunResult(None, False, 0.0, False, error=f"no account {self.run_as!r} to run student code as",
                                 limits=limits)
            try:
                _hand_over(request.workspace, user, limits)
            except OSError as exc:
                return RunResult(None, False, 0.0, False, limits=limits,
                                 error=f"the workspace cannot be handed to {self.run_as}: {exc.strerror or exc}")
        start = time.monotonic()
        with open_log(request.log_path) as log:
            with self._lock:
                if self._cancelled:
                    log.write(f"[grader] {CANCELLED}\n".encode())
                    return RunResult(None, False, 0.0, False, error=CANCELLED, limits=limits)
                try:
                    proc = self._warm_start(request, env, user) or subprocess.Popen(
                        request.argv,
                        cwd=request.workspace,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own session and group, so the whole tree is measured and killed
                        preexec_fn=_limit_resources(limits, user),
                    )
                except OSError as exc:
                    log.write(f"[grader] could not start {request.argv[0]}: {exc}\n".encode())
                    return RunResult(None, False, 0.0, False, error=f"could not start {request.argv[0]}: "
                                                                    f"{exc.strerror or exc}",
                                     limits=limits)
                self._live.add(proc.pid)
            try:
                # Children left behind (a daemon, a sleeping grandchild) go too, limit or not.
                meter = SessionMeter(proc.pid)
                # Memory is sampled from the process tree at each poll, not taken from wait4's
                # ru_maxrss: a child forked from the grader starts with the grader's own resident
                # pages counted (Linux keeps the pre-exec high-water mark), hundreds of MB too many.
                watch = supervise(proc, request, log, stop=lambda _: _kill_group(proc.pid), measure=meter.reading)
                # A forked command's exact peak (wait4's, from the interpreter that forked it):
                # the samples every 0.2 s miss a short step's top.
                watch.note_memory(getattr(proc, "maxrss_bytes", None))
            finally:
                with self._lock:
                    self._live.discard(proc.pid)
        return RunResult(proc.returncode, watch.limit is not None, time.monotonic() - start, watch.truncated,
                         error=CANCELLED if self._cancelled else None, limit=watch.limit, cpu_seconds=watch.cpu_seconds,
                         limits=limits, memory_peak_mb=_mb(watch.memory_peak_bytes))


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)
