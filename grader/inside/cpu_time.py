"""CPU time of processes, read from /proc: the measure limits are set in, because it does not
grow when the machine is busy. Used inside the sandbox (the notebook executor's per-cell watchdog)
and by the host's local backend.

A process tree is followed from its root through /proc/<pid>/task/<tid>/children (each thread's
children), so a measure reads the few files of the tree, not every process on the host; only a
kernel without those files (CONFIG_PROC_CHILDREN unset) falls back to scanning all of /proc."""

from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MAX_DEPTH = 64  # a tree deeper than this is cut (as the full scan's parent walk always was)


def stat_fields(pid: str) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return data.rsplit(b")", 1)[1].split()


def own_and_reaped(fields: list[bytes]) -> int:
    # utime, stime, cutime, cstime (fields 14-17): a process's own time and that of the
    # children it has waited for, so processes that already ended still count
    return sum(int(x) for x in fields[11:15])


_children_files: bool | None = None


def children_files() -> bool:
    """Whether this kernel lists a thread's children in /proc/<pid>/task/<tid>/children."""
    global _children_files
    if _children_files is None:
        _children_files = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return _children_files


def children_of(pid: str) -> list[str]:
    """The processes whose parent is `pid` (any of its threads); none once it has ended."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[str] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(x.decode() for x in f.read().split())
        except OSError:  # the thread ended
            continue
    return found


def all_parents() -> dict[str, str]:
    """pid -> parent pid of every process on the host: the full scan, for kernels without children files."""
    parents: dict[str, str] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (fields := stat_fields(pid)) is not None:
            parents[pid] = fields[1].decode()
    return parents


def process_tree(roots) -> dict[str, list[str]]:
    """The processes of the trees under `roots` (the roots included, those still alive or not yet
    reaped), each with its children."""
    if children_files():
        kids = children_of
    else:
        below: dict[str, list[str]] = {}
        for pid, parent in all_parents().items():
            below.setdefault(parent, []).append(pid)
        kids = lambda pid: below.get(pid, [])  # noqa: E731
    tree: dict[str, list[str]] = {}
    level = [str(r) for r in roots]
    for _ in range(MAX_DEPTH):
        if not level:
            break
        following = []
        for pid in level:
            if pid not in tree:
                tree[pid] = kids(pid)
                following.extend(tree[pid])
        level = following
    return tree


def tree_pids(roots) -> list[str]:
    """The processes of the trees under `roots` (see process_tree)."""
    return list(process_tree(roots))


def pids_cpu_seconds(pids) -> float:
    """CPU seconds of these processes, threads and reaped children included."""
    return sum(own_and_reaped(fields) for pid in pids if (fields := stat_fields(pid)) is not None) / TICK


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and all its descendants (a notebook's kernel and the workers
    it starts)."""
    return pids_cpu_seconds(tree_pids([root]))


def pids_memory_bytes(pids) -> int:
    """max(sum of VmRSS, largest VmHWM) of these processes, in bytes, from /proc/PID/status (the
    local backend's memory reading, and a preloaded interpreter's own peak)."""
    total = highest = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(("VmRSS:", "VmHWM:")):
                kilobytes = int(line.split()[1])
                if line.startswith("VmRSS:"):
                    total += kilobytes
                else:
                    highest = max(highest, kilobytes)
    return max(total, highest) * 1024
