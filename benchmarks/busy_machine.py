#!/usr/bin/env python3
"""Benchmark: grade the same submission on an idle machine and beside CPU hogs (by default twice
as many busy, multi-threaded processes as cores), per assignment; print both wall times, the CPU
time the grading used in all (the grader and every process it started) and its ratio, loaded
over idle (target < 1.3: limits are CPU seconds, so a busy machine must not make a step use much
more of them), and whether the scores agree (they must: the wall clock is only a backstop).
First it prints what supervising a step costs the grader: its own CPU per second of a step,
reading the step's CPU time by a scan of every process on the host (the old way) and by following
the step's process tree (grader/sandbox/cpu.py SessionMeter).

    .venv/bin/python benchmarks/busy_machine.py                 # the tiny test assignment, local backend
    .venv/bin/python benchmarks/busy_machine.py --assignment tiny channel_shift --hogs-per-core 8
    .venv/bin/python benchmarks/busy_machine.py --assignment channel_shift --backend docker
    .venv/bin/python benchmarks/busy_machine.py --supervisor-only

Run on purpose; a reference submission of a shipped assignment takes minutes per grading."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "fixtures" / "tiny"
sys.path.insert(0, str(REPO))
CPU_RATIO_TARGET = 1.3

# A CPU hog: numpy matrix products on two threads, for ever.
HOG = ("import os\nos.environ['OMP_NUM_THREADS'] = os.environ['OPENBLAS_NUM_THREADS'] = '2'\n"
       "import numpy as np\na = np.random.rand(300, 300)\nwhile True: a = (a @ a) / 300.0\n")


def start_hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", HOG], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for hog in hogs:
        hog.kill()
    for hog in hogs:
        hog.wait()


def reference_zip(root: Path, assignment_id: str, dest: Path) -> Path:
    from grader.course import catalog
    from grader.course.skeleton import plain_solution

    assignment = catalog.load(assignment_id, root)
    with zipfile.ZipFile(dest, "w") as z:
        for rel in assignment.spec.editable:
            z.writestr(rel, plain_solution((assignment.solution_dir / rel).read_text(), rel))
    return dest


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade(root: Path, source: Path, out: Path, backend: str) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the grader and all it started, the report)."""
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run([sys.executable, "-m", "grader", "--root", str(root), "grade", str(source), "--out", str(out),
                    "--force", "--backend", backend], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    report = json.loads(next(out.glob("*/report.json")).read_text())
    return seconds, cpu, report


# A supervised step: two workers, each burning CPU on two threads.
STEP = ("import subprocess, sys, time\n"
        "burn = 'import threading\\ndef f():\\n    while True: pass\\n'"
        " + '[threading.Thread(target=f, daemon=True).start() for _ in range(2)]\\nf()'\n"
        "workers = [subprocess.Popen([sys.executable, '-c', burn]) for _ in range(2)]\n"
        "time.sleep(600)\n")


def supervisor_cost(seconds: float, extra_processes: int) -> None:
    """The grader's own CPU per second of a supervised step, reading its CPU time at the
    supervisor's poll rate both ways, with `extra_processes` idle processes added to the host."""
    from grader.sandbox.base import POLL_SECONDS
    from grader.sandbox.cpu import SessionMeter, session_cpu_seconds

    idle = [subprocess.Popen(["sleep", "600"]) for _ in range(extra_processes)]
    step = subprocess.Popen([sys.executable, "-c", STEP], start_new_session=True)
    try:
        time.sleep(1.0)
        host = sum(name.isdigit() for name in os.listdir("/proc"))
        meter = SessionMeter(step.pid)
        costs = {}
        for name, read in (("full scan", lambda: session_cpu_seconds(step.pid)), ("process tree", meter.cpu_seconds)):
            cpu, start, readings = time.thread_time(), time.monotonic(), 0
            while time.monotonic() - start < seconds:
                read()
                readings += 1
                time.sleep(POLL_SECONDS)
            costs[name] = (time.thread_time() - cpu) / (time.monotonic() - start), (time.thread_time() - cpu) / readings
        old, new = costs["full scan"], costs["process tree"]
        print(f"supervisor's own CPU per second of a step ({host} processes on the host, a reading every "
              f"{POLL_SECONDS} s): full scan {old[0] * 1000:.2f} ms/s ({old[1] * 1000:.2f} ms a reading), "
              f"process tree {new[0] * 1000:.2f} ms/s ({new[1] * 1000:.2f} ms a reading), x{old[0] / new[0]:.1f} less")
    finally:
        os.killpg(step.pid, 9)
        step.wait()
        stop_hogs(idle)


def busy_grading(assignment: str, backend: str, hog_count: int) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = REPO
        if assignment == "tiny":
            root = tmp / "course"
            shutil.copytree(TINY, root)
        source = reference_zip(root, assignment, tmp / "20250042_reference.zip")
        idle_seconds, idle_cpu, idle = grade(root, source, tmp / "idle", backend)
        hogs = start_hogs(hog_count)
        try:
            time.sleep(2.0)  # the hogs are computing (numpy imported) before grading starts
            busy_seconds, busy_cpu, busy = grade(root, source, tmp / "busy", backend)
        finally:
            stop_hogs(hogs)

    def scores(report: dict) -> tuple:
        return report["status"], report["score"], tuple((i["id"], i["points"], i["value"]) for i in report["items"])

    print(f"assignment {assignment}, backend {backend}, cores {os.cpu_count()}, hogs {hog_count} (2 threads each)")
    for label, seconds, cpu, report in (("idle", idle_seconds, idle_cpu, idle), ("busy", busy_seconds, busy_cpu, busy)):
        runs = ", ".join(f"{r['name']} {r['seconds']:.1f} s" + (" (run twice)" if r.get("attempts", 1) > 1 else "")
                         for r in report["runs"])
        print(f"  {label}: {seconds:6.1f} s wall, {cpu:6.1f} s CPU, status {report['status']}, "
              f"score {report['score']:g}; runs: {runs}")
    same = scores(idle) == scores(busy)
    ratio = busy_cpu / idle_cpu if idle_cpu else float("nan")
    print(f"  scores identical: {same}; slowdown x{busy_seconds / idle_seconds:.2f}; "
          f"CPU ratio busy/idle {ratio:.2f} (target < {CPU_RATIO_TARGET})")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", nargs="+", default=["tiny"],
                        help="tiny (the test fixture) or shipped assignments")
    parser.add_argument("--backend", default="local", choices=["local", "docker"])
    parser.add_argument("--hogs-per-core", type=int, default=2, help="busy processes per core (default 2)")
    parser.add_argument("--supervisor-seconds", type=float, default=3.0, help="how long each way is measured")
    parser.add_argument("--extra-processes", type=int, default=300,
                        help="idle processes added to the host for the second supervisor figure")
    parser.add_argument("--supervisor-only", action="store_true")
    args = parser.parse_args()
    supervisor_cost(args.supervisor_seconds, 0)
    supervisor_cost(args.supervisor_seconds, args.extra_processes)
    if args.supervisor_only:
        return
    hog_count = args.hogs_per_core * (os.cpu_count() or 1)
    same = [busy_grading(assignment, args.backend, hog_count) for assignment in args.assignment]
    sys.exit(0 if all(same) else 1)


if __name__ == "__main__":
    main()
