#!/usr/bin/env python3
"""Benchmark: grade the same submission on an idle machine and beside CPU hogs (twice as many
busy processes as cores), print both wall times, the CPU time the steps used, and whether the
scores agree (they must: limits are CPU seconds, the wall clock only a backstop).

    .venv/bin/python benchmarks/busy_machine.py                 # the tiny test assignment, local backend
    .venv/bin/python benchmarks/busy_machine.py --assignment channel_shift --backend docker

Run on purpose; a reference submission of a shipped assignment takes minutes per grading."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "fixtures" / "tiny"


def reference_zip(root: Path, assignment_id: str, dest: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from grader.course import catalog
    from grader.course.skeleton import plain_solution

    assignment = catalog.load(assignment_id, root)
    with zipfile.ZipFile(dest, "w") as z:
        for rel in assignment.spec.editable:
            z.writestr(rel, plain_solution((assignment.solution_dir / rel).read_text(), rel))
    return dest


def grade(root: Path, source: Path, out: Path, backend: str) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "--root", str(root), "grade", str(source), "--out", str(out),
                    "--force", "--backend", backend], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    seconds = time.perf_counter() - start
    report = json.loads(next(out.glob("*/report.json")).read_text())
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="tiny", help="tiny (the test fixture) or a shipped assignment")
    parser.add_argument("--backend", default="local", choices=["local", "docker"])
    args = parser.parse_args()
    hog_count = 2 * (os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = REPO
        if args.assignment == "tiny":
            root = tmp / "course"
            shutil.copytree(TINY, root)
        source = reference_zip(root, args.assignment, tmp / "20250042_reference.zip")
        idle_seconds, idle = grade(root, source, tmp / "idle", args.backend)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hog_count)]
        try:
            busy_seconds, busy = grade(root, source, tmp / "busy", args.backend)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()

    def scores(report: dict) -> tuple:
        return report["status"], report["score"], tuple((i["id"], i["points"], i["value"]) for i in report["items"])

    print(f"assignment {args.assignment}, backend {args.backend}, cores {os.cpu_count()}, hogs {hog_count}")
    for label, seconds, report in (("idle", idle_seconds, idle), ("busy", busy_seconds, busy)):
        runs = ", ".join(f"{r['name']} {r['seconds']:.1f} s" + (" (run twice)" if r.get("attempts", 1) > 1 else "")
                         for r in report["runs"])
        print(f"{label}: {seconds:6.1f} s wall, status {report['status']}, score {report['score']:g}; runs: {runs}")
    same = scores(idle) == scores(busy)
    print(f"scores identical: {same} (slowdown x{busy_seconds / idle_seconds:.2f})")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
