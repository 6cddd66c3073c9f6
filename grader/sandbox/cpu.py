"""CPU time of a process tree or a container, read from /proc and the cgroup files: the
measure limits are set in, because it does not grow when the machine is busy."""

from __future__ import annotations

import os
from pathlib import Path

from grader.inside.cpu_time import TICK, own_and_reaped, stat_fields, tree_cpu_seconds  # noqa: F401 - one reader of /proc


def session_cpu_seconds(session: int) -> float:
    """CPU seconds of every process in a session (the local backend starts each command in a
    session of its own), threads and reaped children included."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = stat_fields(pid)
        if fields is not None and int(fields[3]) == session:
            total += own_and_reaped(fields)
    return total / TICK


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


def session_pids(session: int) -> list[str]:
    return [pid for pid in os.listdir("/proc") if pid.isdigit()
            and (fields := stat_fields(pid)) is not None and int(fields[3]) == session]


def session_held(session: int) -> bool:
    """Whether a process of the session waits for a core or is held (see HELD_STATES)."""
    return threads_held(session_pids(session))


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
