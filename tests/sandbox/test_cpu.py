"""CPU time of a local step: the session meter follows the step's own process tree and agrees
with the old scan of every process on the host."""

import os
import subprocess
import sys
import time

import pytest

from grader.inside import cpu_time
from grader.sandbox.cpu import SessionMeter, session_cpu_seconds

# A step that forks workers burning CPU: two are reaped early (their time reaches the leader's
# cutime), one starts a grandchild, one keeps burning until told to stop.
WORKERS = r"""
import subprocess, sys, time
def burn(seconds, then=""):
    return subprocess.Popen([sys.executable, "-c",
        then + "import time\nend = time.process_time() + %s\nwhile time.process_time() < end: pass" % seconds])
short = [burn(0.4), burn(0.4)]
nested = burn(0.2, "import subprocess, sys\nkid = subprocess.Popen([sys.executable, '-c', "
                   "'import time\\nend = time.process_time() + 0.8\\nwhile time.process_time() < end: pass'])\n")
long = burn(60)
for p in short:
    p.wait()
print("reaped", flush=True)
sys.stdin.readline()
long.kill(); long.wait(); nested.wait()
print("done", flush=True)
time.sleep(60)
"""


def _start(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            start_new_session=True, text=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
    proc.wait()


def test_the_tree_meter_measures_a_forking_step_as_the_full_scan_does():
    proc = _start(WORKERS)
    try:
        assert proc.stdout.readline().strip() == "reaped"
        meter = SessionMeter(proc.pid)
        for _ in range(5):  # while the workers burn: read between two full scans
            before = session_cpu_seconds(proc.pid)
            now = meter.cpu_seconds()
            after = session_cpu_seconds(proc.pid)
            assert before * 0.97 - 0.02 <= now <= after * 1.03 + 0.02, (before, now, after)
            time.sleep(0.2)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        settled = session_cpu_seconds(proc.pid)
        assert settled > 1.5  # the reaped workers' time is in it
        assert meter.cpu_seconds() == pytest.approx(settled, rel=0.03, abs=0.02)
    finally:
        _stop(proc)


def test_a_reading_scans_no_host_process_but_now_and_then(monkeypatch):
    proc = _start("import time\ntime.sleep(60)")
    try:
        meter = SessionMeter(proc.pid, rescan_seconds=3600)
        meter.cpu_seconds()  # the first reading scans once, for processes that already left the tree
        scans = []
        listdir = os.listdir
        monkeypatch.setattr(os, "listdir", lambda path=".": scans.append(path) or listdir(path))
        for _ in range(10):
            meter.cpu_seconds()
            meter.reading().held()
        assert "/proc" not in scans and scans  # only the step's own /proc/<pid>/task folders
    finally:
        _stop(proc)


DAEMON = ("import os, sys, time\n"
          "if os.fork() == 0:\n"
          "    if os.fork() == 0:\n"
          "        end = time.process_time() + 60\n"
          "        while time.process_time() < end: pass\n"
          "    time.sleep(float(sys.argv[1]))\n"
          "    os._exit(0)\n"
          "os.wait()\nprint('orphaned', flush=True)\ntime.sleep(60)\n")


def _start_daemon(middle_lives: float) -> subprocess.Popen:
    # the leader forks twice; the middle process ends, so the burner is adopted outside the tree
    return subprocess.Popen([sys.executable, "-c", DAEMON, str(middle_lives)], stdout=subprocess.PIPE,
                            start_new_session=True, text=True)


def test_a_daemon_that_left_the_tree_is_found_when_its_parent_ends_and_counted():
    proc = _start_daemon(1.0)
    try:
        meter = SessionMeter(proc.pid, rescan_seconds=3600)  # only a parent's end can send it to scan
        deadline = time.monotonic() + 20
        while meter.cpu_seconds() < 0.5 and time.monotonic() < deadline:  # read as the supervisor does
            time.sleep(0.2)
        assert proc.stdout.readline().strip() == "orphaned"
        assert meter.cpu_seconds() == pytest.approx(session_cpu_seconds(proc.pid), rel=0.03, abs=0.05)
        assert len(meter.roots) == 2
    finally:
        _stop(proc)


def test_a_daemon_orphaned_before_the_first_reading_is_counted_from_it():
    proc = _start_daemon(0.0)
    try:
        assert proc.stdout.readline().strip() == "orphaned"
        deadline = time.monotonic() + 20
        while session_cpu_seconds(proc.pid) < 0.3 and time.monotonic() < deadline:  # a busy machine is slow
            time.sleep(0.1)
        assert SessionMeter(proc.pid).cpu_seconds() == pytest.approx(session_cpu_seconds(proc.pid), rel=0.03, abs=0.05)
        assert session_cpu_seconds(proc.pid) >= 0.3
    finally:
        _stop(proc)


def test_without_children_files_the_tree_comes_from_a_full_scan(monkeypatch):
    proc = _start(WORKERS)
    try:
        assert proc.stdout.readline().strip() == "reaped"
        followed = sorted(cpu_time.tree_pids([proc.pid]))
        monkeypatch.setattr(cpu_time, "children_files", lambda: False)
        assert sorted(cpu_time.tree_pids([proc.pid])) == followed and len(followed) >= 3
    finally:
        _stop(proc)


def _run_local(tmp_path, code: str, cpu_seconds: float):
    from grader.course.spec import SandboxLimits
    from grader.sandbox import LocalSandbox, RunRequest

    limits = SandboxLimits(cpu_seconds=cpu_seconds, wall_seconds=60)
    return LocalSandbox().run(RunRequest([sys.executable, "-c", code], tmp_path, tmp_path / "log.txt", limits))


@pytest.mark.parametrize("workers", ["tree", "daemon"])
def test_the_cpu_limit_stops_a_step_whose_workers_burn_in_or_outside_its_tree(tmp_path, workers):
    # two workers under the budget alone, over it together; "daemon": each left the tree (adopted by init)
    code = ("import os, time\n"
            "def burn():\n"
            "    end = time.process_time() + 30\n"
            "    while time.process_time() < end: pass\n"
            "    os._exit(0)\n"
            f"daemon = {workers == 'daemon'}\n"
            "for _ in range(2):\n"
            "    if os.fork() == 0:\n"
            "        if not daemon or os.fork() == 0:\n"
            "            burn()\n"
            "        os._exit(0)\n"
            "time.sleep(60)\n")
    start = time.monotonic()
    result = _run_local(tmp_path, code, cpu_seconds=2)
    assert result.timed_out and result.limit == "cpu" and time.monotonic() - start < 30, result
    assert 2 <= result.cpu_seconds < 5
