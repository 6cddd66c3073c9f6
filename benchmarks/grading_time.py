#!/usr/bin/env python3
"""Benchmark: how long grading one reference submission takes, per experiment and in all.
Targets (2 cores): the runs of the graded submission under TARGET_S of its assignment.
Run on purpose: `.venv/bin/python benchmarks/grading_time.py cnn_transfer [--backend docker]`."""

import argparse
import os
import tempfile
import time
from pathlib import Path

from grader.commands.examples import make_examples
from grader.course import catalog
from grader.sandbox import make_sandbox
from grader.steps.pipeline import grade_submission

STUDENT = "20262426"
TARGET_S = {"cnn_transfer": 120.0, "channel_shift": 180.0, "cvae_ood": 180.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("assignment")
    parser.add_argument("--backend", default="local", choices=["local", "docker", "auto"])
    args = parser.parse_args()
    assignment = catalog.load(args.assignment)
    sandbox = make_sandbox(args.backend)
    with tempfile.TemporaryDirectory() as tmp:
        reference = next(e for e in make_examples(assignment, Path(tmp) / "subs", [STUDENT], baselines=False)
                         if e.kind == "reference")
        start = time.perf_counter()
        report = grade_submission(reference.zip_path, assignment, sandbox, Path(tmp) / "out")
        total = time.perf_counter() - start
    runs = sum(r.seconds for r in report.runs)
    target = TARGET_S.get(args.assignment)
    print(f"{args.assignment}, {type(sandbox).__name__}, {os.cpu_count()} cores: "
          f"score {report.score:g}/{report.max_score:g}")
    for record in report.runs:
        print(f"  {record.name:<24} {record.seconds:6.1f} s  {record.outcome}")
    verdict = "" if target is None else f" (target < {target:.0f} s: {'met' if runs < target else 'MISSED'})"
    print(f"  experiment runs          {runs:6.1f} s{verdict}")
    print(f"  hidden tests and probes  {report.timings.get('hidden_tests', 0):6.1f} s")
    print(f"  whole submission         {total:6.1f} s")


if __name__ == "__main__":
    main()
