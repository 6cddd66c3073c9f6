"""CPU time of a process tree or a container, read from /proc and the cgroup files: the
measure limits are set in, because it does not grow when the machine is busy."""

from __future__ import annotations

import os
import time
from pathlib import Path

from grader.inside.cpu_time import (
    pids_cpu_seconds,
    pids_memory_bytes,
    process_tree,
    stat_fields,
)
from grader.sandbox.base import Reading


def session_cpu_seconds(session: int) -> float:
    """CPU seconds of every process in a session, threads and reaped children included, by a
    scan of every process on the host (what SessionMeter does only now and then)."""
    return pids_cpu_seconds(session_pids(session))


RESCAN_SECONDS = 2.0  # a step that forks a process out of its tree overruns its CPU limit by at most this x its cores


class SessionMeter:
    """CPU seconds of a local step: the processes of the session its leader started (the local
    backend starts each command in a session of its own), threads and reaped children included.

    Each reading follows the process tree from the leader (grader/inside/cpu_time.py: a few
    files, however many processes the host runs). A process of the session can leave that tree:
    when its parent ends first it is adopted by init (a daemon that forked twice, a worker whose
    parent did not wait for it). A scan of all of /proc finds such processes, and they are
    followed from then on as roots of their own: at the first reading, whenever a process of the
    tree that had children has ended since the last reading, and every RESCAN_SECONDS in any
    case (a parent that forked and ended between two readings). The value is the one a scan of
    every process at each reading gave, at a fraction of its cost."""

    def __init__(self, leader: int, rescan_seconds: float = RESCAN_SECONDS):
        self.session = leader
        self.roots: list[str] = [str(leader)]
        self.rescan_seconds = rescan_seconds
        self.last_scan: float | None = None
        self.parents: set[str] = set()  # processes that had children at the last reading

    def pids(self) -> list[str]:
        now = time.monotonic()
        if len(self.roots) > 1:  # a stray that ended since the scan: its pid may be another's by now
            self.roots = [self.roots[0]] + [pid for pid in self.roots[1:] if _in_session(pid, self.session)]
        tree = process_tree(self.roots)
        orphaned = any(pid not in tree for pid in self.parents)
        if orphaned or self.last_scan is None or now - self.last_scan >= self.rescan_seconds:
            self.last_scan = now
            strays = [pid for pid in session_pids(self.session) if pid not in tree]
            if strays:
                self.roots = [self.roots[0]] + [pid for pid in strays if pid not in self.roots]
                tree = process_tree(self.roots)
        self.parents = {pid for pid, children in tree.items() if children}
        return list(tree)

    def cpu_seconds(self) -> float:
        return pids_cpu_seconds(self.pids())

    def reading(self) -> Reading:
        """One poll's measures from one walk of the tree: CPU seconds; resident memory (the
        processes' VmRSS summed, or the highest VmHWM, one process's own peak between two readings,
        where that is more); and whether a process of these waits for a core or is held (see
        HELD_STATES), read only when asked."""
        pids = self.pids()
        return Reading(pids_cpu_seconds(pids), pids_memory_bytes(pids), lambda: threads_held(pids))


# A thread in one of these states is not idle: it waits for a core (R: runnable, starved on a
# busy machine), for the disk (D), or is held stopped (T, t: SIGSTOP, a debugger). Only when
# no thread of a step is in one of them does a step whose CPU time stands still count as idle.
HELD_STATES = frozenset(b"RDTt")


def threads_held(pids) -> bool:
    """Whether any thread of these processes is runnable, in uninterruptible wait, or stopped."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            fields = stat_fields(f"{pid}/task/{tid}")
            if fields is not None and fields[0][:1] and fields[0][0] in HELD_STATES:
                return True
    return False


def cgroup_memory_peak(memory: Path | None) -> int | None:
    """The highest memory use of a container's cgroup so far, in bytes (v2 memory.peak, v1
    memory.max_usage_in_bytes); None where neither is readable."""
    if memory is None:
        return None
    for name in ("memory.peak", "memory.max_usage_in_bytes"):
        try:
            return int((memory / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def session_pids(session: int) -> list[str]:
    return [pid for pid in os.listdir("/proc") if pid.isdigit()
            and (fields := stat_fields(pid)) is not None and int(fields[3]) == session]


def _in_session(pid: str, session: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and int(fields[3]) == session


def cgroup_held(cpu_file: Path) -> bool:
    """Whether a container waits for a core or is held: a thread of its cgroup in a held
    state, or the cgroup frozen (`docker pause`)."""
    folder = cpu_file.parent
    try:
        if "frozen 1" in (folder / "cgroup.events").read_text().splitlines():
            return True
    except OSError:
        pass
    try:
        pids = (folder / "cgroup.procs").read_text().split()
    except OSError:
        return False
    return threads_held(pids)


CGROUP_ROOTS = [Path("/sys/fs/cgroup")]


# Docker's default parent, and the grader's own (grader/sandbox/docker.py `cgroup_parent`).
CONTAINER_PARENTS = ("docker", "grader-sandbox")


def container_cgroup(container_id: str) -> tuple[Path | None, Path | None]:
    """(file of CPU nanoseconds or a cpu.stat, memory folder) of a container, for cgroup v1
    and v2 with either cgroup driver; (None, None) where neither is readable."""
    for base in CGROUP_ROOTS:
        v1 = [base / controller / parent / container_id / "cpuacct.usage"
              for parent in CONTAINER_PARENTS for controller in ("cpuacct", "cpu,cpuacct")]
        v1.append(base / "cpuacct" / "system.slice" / f"docker-{container_id}.scope" / "cpuacct.usage")
        v2 = [base / "system.slice" / f"docker-{container_id}.scope"] + [base / parent / container_id
                                                                        for parent in CONTAINER_PARENTS]
        for cpu in v1:
            if cpu.is_file():
                memory = next((m for m in [base / "memory" / parent / container_id for parent in CONTAINER_PARENTS]
                               + [base / "memory" / "system.slice" / f"docker-{container_id}.scope"] if m.is_dir()),
                              None)
                return cpu, memory
        for folder in v2:
            if (folder / "cpu.stat").is_file():
                return folder / "cpu.stat", folder
    return None, None


def cgroup_cpu_seconds(cpu_file: Path) -> float | None:
    try:
        text = cpu_file.read_text()
    except OSError:
        return None
    if cpu_file.name == "cpu.stat":
        for line in text.splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
        return None
    return int(text.strip() or 0) / 1e9


def cgroup_oom_killed(memory: Path | None) -> bool:
    """Whether the kernel's OOM killer struck inside the cgroup (v1 memory.oom_control,
    v2 memory.events)."""
    if memory is None:
        return False
    for name in ("memory.oom_control", "memory.events"):
        try:
            for line in (memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value or 0) > 0:
                    return True
        except (OSError, ValueError):
            continue
    try:  # v1 kernels without the oom_kill counter: the limit was hit
        return int((memory / "memory.failcnt").read_text()) > 0
    except (OSError, ValueError):
        return False
