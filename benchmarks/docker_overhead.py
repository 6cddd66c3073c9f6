#!/usr/bin/env python3
"""Benchmark: the grader's own overhead per submission in Docker, and the ratio of grading in
Docker to running the same experiments bare (same commands, host venv, no grader).
Targets: overhead < 3 s, ratio < 1.15. Needs dockerd and `grader image build`.
Run on purpose: `.venv/bin/python benchmarks/docker_overhead.py`."""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.commands.examples import make_examples
from grader.course import catalog
from grader.sandbox.docker import DockerSandbox
from grader.sandbox.image import image_tag
from grader.steps.pipeline import RunContext, data_root, grade_submission, seed_for

STUDENT = "20262426"


def bare(assignment, dataset: str) -> float:
    """The experiments alone: the reference folder, the host's Python, one command after another."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ref"
        shutil.copytree(assignment.solution_dir, folder, ignore=shutil.ignore_patterns("data_cache", "__pycache__"))
        ctx = RunContext(seed_for(STUDENT, assignment.spec.seed), dataset, data_root(), sys.executable)
        start = time.perf_counter()
        for experiment in assignment.spec.experiments:
            subprocess.run(ctx.argv(experiment.command), cwd=folder, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    assignment = catalog.load("colored_mnist")
    dataset = assignment.dataset()
    sandbox = DockerSandbox(image_tag())
    with tempfile.TemporaryDirectory() as tmp:
        reference = next(e for e in make_examples(assignment, Path(tmp) / "subs", [STUDENT], baselines=False)
                         if e.kind == "reference")
        start = time.perf_counter()
        report = grade_submission(reference.zip_path, assignment, sandbox, Path(tmp) / "out")
        docker_total = time.perf_counter() - start
    in_container = sum(r.seconds for r in report.runs)
    bare_total = bare(assignment, dataset)
    print(f"submission graded in Docker: {docker_total:.1f} s (score {report.score:g}/{report.max_score:g})")
    print(f"  experiments inside containers: {in_container:.1f} s, "
          f"hidden tests: {report.timings.get('hidden_tests', 0):.1f} s")
    print(f"same experiments bare:           {bare_total:.1f} s")
    overhead = docker_total - in_container
    print(f"grader overhead per submission:  {overhead:.1f} s (target < 3 s): total minus the experiment runs")
    print(f"ratio Docker / bare:             {docker_total / bare_total:.2f} (target < 1.15)")
    print("(bare uses the host venv's torch 2.14.1 CUDA build on the CPU; the image has the 2.13.0 CPU build)")


if __name__ == "__main__":
    main()
