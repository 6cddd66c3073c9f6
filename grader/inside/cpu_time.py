"""CPU time of processes, read from /proc: the measure limits are set in, because it does not
grow when the machine is busy. Used inside the sandbox (the notebook executor's per-cell watchdog)
and by the host's local backend."""

from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and all its descendants (a notebook's kernel and the workers
    it starts)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = stat_fields(pid)
        if fields is None:
            continue
        parents[int(pid)] = int(fields[1])
        ticks[int(pid)] = own_and_reaped(fields)
    total = 0
    for pid, value in ticks.items():
        node, hops = pid, 0
        while node and node != root and hops < 64:
            node, hops = parents.get(node, 0), hops + 1
        if node == root:
            total += value
    return total / TICK
