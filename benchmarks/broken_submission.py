#!/usr/bin/env python3
"""Benchmark: CPU seconds to grade a submission whose code does not import (every editable
file with a syntax error; a notebook's first `functions` cell the student writes, a TODO cell of the
skeleton: a given cell is restored before the run), per shipped assignment, local backend.
Its steps that would only die importing it are not started (grader/steps/fail_fast.py); the
reference's hidden-test outputs and the assets are built first, untimed (once per course build).
Target: < 3 CPU-s per submission (the grader's process and everything it started).
Run on purpose: `.venv/bin/python benchmarks/broken_submission.py [ASSIGNMENT ...]`."""

import argparse
import json
import os
import resource
import tempfile
import time
import zipfile
from pathlib import Path

from grader.commands.examples import make_examples
from grader.course import catalog
from grader.inside.notebook import read_notebook
from grader.sandbox import make_sandbox
from grader.steps.given_cells import is_todo_cell
from grader.steps.pipeline import grade_submission

STUDENT = "20262426"
TARGET_CPU_S = 3.0
BREAK = "\n\ndef broken(:\n    pass\n"


def cpu_seconds() -> float:
    """This process and everything it started, the commands forked by the local backend's
    preloaded interpreters (their children, not this process's) included."""
    from grader.sandbox import warm

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + warm.POOL.cpu_seconds()


def _todo_cell_ids(skeleton: Path) -> set[str]:
    """The ids of the skeleton's TODO code cells: the cells a student writes (every other code
    cell is given, and restored from the skeleton before the notebook runs)."""
    return {cell.get("id") for cell in read_notebook(skeleton).cells if is_todo_cell(cell)}


def broken_zip(assignment: catalog.Assignment, reference: Path, dest: Path) -> Path:
    """The reference with every editable file broken: a syntax error at the end of each .py
    file, and of a notebook's first `functions` cell that the student writes."""
    with zipfile.ZipFile(reference) as source, zipfile.ZipFile(dest, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            rel = info.filename.split("/", 1)[-1]
            if rel in assignment.spec.editable and rel.endswith(".py"):
                data += BREAK.encode()
            elif rel in assignment.spec.editable and rel.endswith(".ipynb"):
                notebook, todo = json.loads(data), _todo_cell_ids(assignment.skeleton_dir / rel)
                cell = next(c for c in notebook["cells"] if c.get("id") in todo
                            and "functions" in c.get("metadata", {}).get("tags", []))
                cell["source"] = "".join(cell["source"]) + BREAK
                data = json.dumps(notebook).encode()
            out.writestr(info, data)
    return dest


class Counting:
    def __init__(self, inner):
        self.inner, self.name, self.started = inner, inner.name, []

    def python(self):
        return self.inner.python()

    def run(self, request):
        self.started.append(" ".join(request.argv[1:3]))
        return self.inner.run(request)

    def cancel_all(self):
        self.inner.cancel_all()


def measure(assignment_id: str) -> float:
    assignment = catalog.load(assignment_id)
    sandbox = make_sandbox("local")
    with tempfile.TemporaryDirectory() as tmp:
        reference = next(e for e in make_examples(assignment, Path(tmp) / "subs", [STUDENT], baselines=False)
                         if e.kind == "reference")
        broken = broken_zip(assignment, reference.zip_path, Path(tmp) / f"{STUDENT}_broken.zip")
        grade_submission(broken, assignment, sandbox, Path(tmp) / "warm")  # the course build's caches, untimed
        counting = Counting(sandbox)
        cpu, wall = cpu_seconds(), time.perf_counter()
        report = grade_submission(broken, assignment, counting, Path(tmp) / "out")
        cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    verdict = "met" if cpu < TARGET_CPU_S else "MISSED"
    print(f"{assignment_id}: {cpu:.2f} CPU-s, {wall:.2f} s wall (target < {TARGET_CPU_S:g} CPU-s: {verdict}); "
          f"status {report.status}, score {report.score:g}/{report.max_score:g}; cause: {report.cause}")
    print(f"  steps started: {counting.started or 'none'}")
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("assignments", nargs="*")
    args = parser.parse_args()
    ids = args.assignments or catalog.list_ids()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for assignment_id in ids:
        measure(assignment_id)


if __name__ == "__main__":
    main()
