"""The notebook watchdog's measure: the kernel's process tree followed through its children
files gives what the old scan of every process on the host gave."""

import os
import subprocess
import sys
import time

import pytest

from grader.inside import cpu_time


def full_scan_tree_cpu_seconds(root: int) -> float:
    """The old measure: every /proc/<pid>/stat read, each process walked up to `root`."""
    parents, ticks = {}, {}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (fields := cpu_time.stat_fields(pid)) is not None:
            parents[int(pid)], ticks[int(pid)] = int(fields[1]), cpu_time.own_and_reaped(fields)
    total = 0
    for pid, value in ticks.items():
        node, hops = pid, 0
        while node and node != root and hops < 64:
            node, hops = parents.get(node, 0), hops + 1
        total += value if node == root else 0
    return total / cpu_time.TICK


KERNEL = r"""
import subprocess, sys, time
burn = "import time\nend = time.process_time() + %s\nwhile time.process_time() < end: pass"
done = subprocess.Popen([sys.executable, "-c", burn % 0.3]); done.wait()  # reaped: in cutime
workers = [subprocess.Popen([sys.executable, "-c", "import subprocess, sys\n"
                             "subprocess.Popen([sys.executable, '-c', %r]).wait()" % (burn % 60)]) for _ in range(2)]
print("started", flush=True)
time.sleep(60)
"""


def test_the_tree_followed_from_its_root_measures_as_the_full_scan_did(monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", KERNEL], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.5)
        for _ in range(3):
            before = full_scan_tree_cpu_seconds(proc.pid)
            now = cpu_time.tree_cpu_seconds(proc.pid)
            after = full_scan_tree_cpu_seconds(proc.pid)
            assert before * 0.97 - 0.02 <= now <= after * 1.03 + 0.02, (before, now, after)
            assert len(cpu_time.tree_pids([proc.pid])) == 5  # the kernel, two workers, their burners
            time.sleep(0.2)
        monkeypatch.setattr(cpu_time, "children_files", lambda: False)  # a kernel without the files
        assert cpu_time.tree_cpu_seconds(proc.pid) == pytest.approx(full_scan_tree_cpu_seconds(proc.pid), rel=0.03,
                                                                    abs=0.05)
    finally:
        for pid in cpu_time.tree_pids([proc.pid])[::-1]:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        proc.wait()
