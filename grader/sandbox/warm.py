"""Preloaded interpreters for the local backend (grader/inside/warm_start.py is the other side).

A grading runs two processes of the grader's own that import torch: the trusted scoring step
and the hidden tests. Started fresh, each spends 1.3-3.5 s importing before any work; a
preloaded interpreter imports once per worker and forks per command. Only the grader asks for
it (a RunRequest's `preload`, set for trusted steps and hidden tests), the modules come from the
course's own files, and one is kept per interpreter, import-time environment and module list,
for the life of the grader's process (at most MAX_KEPT; the oldest idle one is stopped first).

GRADER_WARM_START=0 turns it off (every command then starts a fresh interpreter)."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import select
import socket
import subprocess
import threading
import time
from pathlib import Path

from grader.inside.cpu_time import pids_memory_bytes
from grader.inside.warm_start import HEADER, READY

SWITCH_ENV = "GRADER_WARM_START"
START_SECONDS = 180  # importing torch and torchvision on a loaded 2-core machine: well under a minute
MAX_KEPT = 3  # interpreters kept idle; one that still has a command running is never stopped
# Read by libraries and the interpreter as they load: a command whose own environment sets one of
# these starts fresh instead (GRADER_SANDBOX is read at run time).
IMPORT_TIME_PREFIXES = ("PYTHON", "OMP_", "MKL_", "OPENBLAS_", "NUMEXPR_", "KMP_", "GOMP_", "LANG", "LC_", "PATH",
                        "LD_", "CUDA", "TORCH")


class WarmStartError(Exception):
    """A preloaded interpreter could not be started or reached: the command starts fresh."""


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1") != "0"


def import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}


def warm_args(argv: list[str], python: str) -> list[str] | None:
    """The arguments after the interpreter when `argv` is `python SCRIPT ...` or `python -m
    MODULE ...` with no interpreter options; None for any other command."""
    if len(argv) < 2 or argv[0] != python:
        return None
    if argv[1] == "-m":
        return argv[1:] if len(argv) >= 3 else None
    return None if argv[1].startswith("-") else argv[1:]


class _Lines:
    """The server's answers on one connection, a JSON object a line: the pid as soon as the
    command is forked, its status once it ended (both may come in one read)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def next(self, timeout: float | None) -> dict | None:
        """The next answer; None when the connection ended first (the server went away).
        subprocess.TimeoutExpired when none came within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.conn], [], [], left)[0]:
                raise subprocess.TimeoutExpired("warm start", timeout)
            try:
                chunk = self.conn.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None


class WarmProcess:
    """A command a preloaded interpreter forked, seen as subprocess.Popen is by `supervise`:
    pid (its session), stdout, wait(timeout), returncode."""

    def __init__(self, pid: int, stdout, answers: _Lines, ended) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self.maxrss_bytes: int | None = None  # the command's peak resident memory, from wait4
        self._answers = answers
        self._ended = ended

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        answer = self._answers.next(timeout)
        try:
            self.returncode = int(answer["status"])
            self.maxrss_bytes = int(answer["maxrss_kib"]) * 1024
        except (KeyError, TypeError, ValueError):
            self.returncode = -9  # the preloaded interpreter went away: the command's end is unknown
        self._answers.conn.close()
        self._ended()
        return self.returncode


class WarmInterpreter:
    def __init__(self, python: str, env: dict[str, str], modules: tuple[str, ...]) -> None:
        # An abstract socket: nothing on disk to leave behind; the server takes requests only
        # from the grader's own account (SO_PEERCRED), so a student account cannot reach it.
        self.address = f"\0grader-warm-{os.getpid()}-{secrets.token_hex(8)}"
        self.started = time.monotonic()
        self.running = 0  # commands forked and not yet reported ended
        self.spawned = 0  # commands forked in all
        self._count = threading.Lock()
        try:
            self.proc = subprocess.Popen([python, "-m", "grader.inside.warm_start", self.address[1:], *modules],
                                         cwd="/", env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise WarmStartError(f"could not start {python}: {exc}") from exc
        ready, _, _ = select.select([self.proc.stdout], [], [], START_SECONDS)
        if not ready or self.proc.stdout.readline() != READY:
            self.stop()
            raise WarmStartError("the preloaded interpreter did not start")
        self.start_seconds = time.monotonic() - self.started

    def spawn(self, args: list[str], cwd: Path, env: dict[str, str], rlimits: list[tuple[str, int, int]],
              user: tuple[int, int] | None, course_code_only: bool = False) -> WarmProcess:
        """Fork the command; with `course_code_only` (no student code runs in it) the interpreter
        also imports, once it ended, the installed modules it imported on the way."""
        request = json.dumps({"args": args, "cwd": str(cwd), "env": env, "rlimits": rlimits,
                              "user": list(user) if user else None, "report": course_code_only}).encode()
        read_end, write_end = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(30)
            conn.connect(self.address)
            socket.send_fds(conn, [len(request).to_bytes(HEADER, "big") + request], [write_end])
            answers = _Lines(conn)
            pid = int(answers.next(30)["pid"])
        except (OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as exc:
            conn.close()
            os.close(read_end)
            self._one_ended()
            raise WarmStartError(f"the preloaded interpreter did not answer: {exc}") from exc
        finally:
            os.close(write_end)
        self.spawned += 1
        return WarmProcess(pid, os.fdopen(read_end, "rb"), answers, self._one_ended)

    def reserve(self) -> None:
        """One more command will be spawned (counted before it is, so that no other thread stops
        this interpreter in between)."""
        with self._count:
            self.running += 1

    def release(self) -> None:
        """A reservation given back without a command spawned."""
        self._one_ended()

    def _one_ended(self) -> None:
        with self._count:
            self.running -= 1

    def peak_mib(self) -> float | None:
        """The interpreter's own peak resident memory (VmHWM), while it runs."""
        peak = pids_memory_bytes([self.proc.pid])
        return peak / 2**20 if peak else None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class WarmPool:
    """The preloaded interpreters of this grader process, shared by every LocalSandbox in it."""

    def __init__(self) -> None:
        self._kept: dict[tuple, WarmInterpreter] = {}
        self._lock = threading.Lock()
        self._starting: dict[tuple, threading.Lock] = {}
        self._failed: dict[tuple, str] = {}  # a key whose interpreter did not start is not tried again

    def get(self, python: str, env: dict[str, str], modules: tuple[str, ...]) -> WarmInterpreter:
        """The interpreter for this key, started if needed, reserved for one `spawn`."""
        key = (python, tuple(sorted(env.items())), modules)
        with self._lock:
            gate = self._starting.setdefault(key, threading.Lock())
        with gate:  # one start per key; other threads wanting it wait for that one
            with self._lock:
                if key in self._failed:
                    raise WarmStartError(self._failed[key])
                found = self._kept.get(key)
                if found is not None and found.alive():
                    found.reserve()
                    return found
            try:
                started = WarmInterpreter(python, env, modules)
            except WarmStartError as exc:
                with self._lock:
                    self._failed[key] = str(exc)
                raise
            with self._lock:
                if found is not None:
                    self._kept.pop(key, None)
                    found.stop()
                self._kept[key] = started
                started.reserve()
                idle = [k for k, kept in self._kept.items() if kept.running == 0 and k != key]
                for old in idle[:max(0, len(self._kept) - MAX_KEPT)]:
                    self._kept.pop(old).stop()
            return started

    def kept(self) -> list[WarmInterpreter]:
        with self._lock:
            return list(self._kept.values())

    def cpu_seconds(self) -> float:
        """CPU time of the interpreters kept now and of every command they forked and reaped:
        what RUSAGE_CHILDREN does not count until an interpreter is stopped (benchmarks add it;
        a stopped interpreter's share moves into RUSAGE_CHILDREN once it is reaped)."""
        from grader.inside.cpu_time import TICK, own_and_reaped, stat_fields

        ticks = sum(own_and_reaped(fields) for kept in self.kept()
                    if (fields := stat_fields(str(kept.proc.pid))) is not None)
        return ticks / TICK

    def spawned(self) -> int:
        """Commands forked by the interpreters kept now."""
        with self._lock:
            return sum(kept.spawned for kept in self._kept.values())

    def stop_all(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
            self._failed.clear()
        for interpreter in kept:
            interpreter.stop()


POOL = WarmPool()
atexit.register(POOL.stop_all)
