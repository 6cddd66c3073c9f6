#!/usr/bin/env python3
"""Benchmark: what a runaway submission costs (issue 24). The reference with a model.py that
sleeps, and one that loops forever, each where its module is imported, graded with the local
backend: wall time and CPU seconds (the grader's process and everything it started) for the
whole submission. Targets (colored_mnist): the sleeping one a `timeout` in under 10 minutes of
wall clock; the looping one under 400 CPU-s. The reference's hidden-test outputs and the
assets are built first, untimed (once per course build).
Run on purpose: `.venv/bin/python benchmarks/runaway_submission.py [ASSIGNMENT] [--file model.py]`
(takes minutes for colored_mnist: one idle interval, one CPU limit)."""

import argparse
import os
import resource
import tempfile
import time
import zipfile
from pathlib import Path

from grader.commands.examples import make_examples
from grader.course import catalog
from grader.sandbox import make_sandbox
from grader.steps.pipeline import grade_submission

STUDENT = "20262426"
TARGET_SLEEP_WALL_S = 600.0
TARGET_LOOP_CPU_S = 400.0
RUNAWAY = {"sleeping": "import time\ntime.sleep(10 ** 6)\n", "looping": "while True:\n    pass\n"}


def cpu_seconds() -> float:
    """This process and everything it started, the commands forked by the local backend's
    preloaded interpreters (their children, not this process's) included."""
    from grader.sandbox import warm

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + warm.POOL.cpu_seconds()


def runaway_zip(reference: Path, rel: str, prelude: str, dest: Path) -> Path:
    """The reference with `prelude` at the top of `rel` (after its docstring and imports would be
    kinder; the top is where a stray call lands)."""
    with zipfile.ZipFile(reference) as source, zipfile.ZipFile(dest, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.split("/", 1)[-1] == rel:
                data = prelude.encode() + data
            out.writestr(info, data)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("assignment", nargs="?", default="colored_mnist")
    parser.add_argument("--root", type=Path, default=None, help="course root (default: this repository)")
    parser.add_argument("--file", default=None, help="the editable file to break (default: the first)")
    args = parser.parse_args()
    assignment = catalog.load(args.assignment, args.root) if args.root else catalog.load(args.assignment)
    rel = args.file or assignment.spec.editable[0]
    limits = assignment.spec.limits
    from grader.steps.pipeline import step_count

    cpu_budget, wall_budget = limits.submission_budget(step_count(assignment))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.assignment}: "
          f"{limits.cpu_seconds} CPU-s a step, idle after {limits.idle_interval():.0f} s, "
          f"{step_count(assignment)} steps, budget {cpu_budget:.0f} CPU-s / {wall_budget:.0f} s")
    sandbox = make_sandbox("local")
    with tempfile.TemporaryDirectory() as tmp:
        reference = next(e for e in make_examples(assignment, Path(tmp) / "subs", [STUDENT], baselines=False)
                         if e.kind == "reference")
        grade_submission(runaway_zip(reference.zip_path, rel, "", Path(tmp) / f"{STUDENT}_warm.zip"), assignment,
                         sandbox, Path(tmp) / "warm")  # the course build's caches, untimed
        for kind, prelude in RUNAWAY.items():
            source = runaway_zip(reference.zip_path, rel, prelude, Path(tmp) / f"{STUDENT}_{kind}.zip")
            cpu, wall = cpu_seconds(), time.perf_counter()
            report = grade_submission(source, assignment, sandbox, Path(tmp) / kind)
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            if kind == "sleeping":
                met = report.status == "timeout" and wall < TARGET_SLEEP_WALL_S
                target = f"timeout in < {TARGET_SLEEP_WALL_S:.0f} s of wall"
            else:
                met = cpu < TARGET_LOOP_CPU_S
                target = f"< {TARGET_LOOP_CPU_S:.0f} CPU-s"
            started = [r.name for r in report.runs if r.outcome != "skipped" and not r.outcome.startswith("skipped")]
            print(f"{kind} {rel}: {wall:.1f} s wall, {cpu:.1f} CPU-s (target {target}: {'met' if met else 'MISSED'}); "
                  f"status {report.status}; steps run: {', '.join(started) or 'none'}")
            print(f"  {report.message}")


if __name__ == "__main__":
    main()
