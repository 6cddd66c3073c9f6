#!/usr/bin/env python3
"""Benchmark: what trusted scoring costs, per assignment (local backend, one reference submission).

Prints, measured in the same run:
- the bare student commands: each experiment's command run directly in one folder, no grader
  (wall time and peak resident memory of each process);
- grading the same submission: wall time in all and its ratio to the bare commands; the
  grader's own time, the grading's wall time less the time of the student's commands inside
  it (the experiments that run the student's code; trusted steps are the grader's own scoring
  code and count as the grader's, with the hidden tests, intake, workspace and reports), and
  the grader's share of the grading (target <= 5%; measured inside one grading, so a machine
  whose speed drifts by 10% between two runs, as this VM's does, does not blur it); the
  grader's own peak resident memory;
- grading a submission whose code does not import (target: far below a full grading, since
  every step whose input step failed is skipped).

Run on purpose: `.venv/bin/python benchmarks/trust_cost.py [ASSIGNMENT ...]`; `--root COURSE`
takes the assignments from another course (`--root tests/fixtures/tiny tiny` checks the
accounting in seconds)."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from grader.commands.examples import make_examples
from grader.course import catalog
from grader.course.secret import secret_seed
from grader.sandbox import LocalSandbox
from grader.sandbox.local import base_environment
from grader.steps.assets import ensure_assets
from grader.steps.hidden_tests import expected_outputs, reference_workspace
from grader.steps.imports import preload_modules
from grader.steps.pipeline import RunContext, data_root, dataset_env, grade_submission, holdout_dir

STUDENT = "20262426"
# Issue 25's target for every MNIST-family process (all four shipped assignments); every process of a
# grading, trusted and hidden-test steps included, is measured by benchmarks/process_memory.py.
MEMORY_TARGET_MIB = dict.fromkeys(["colored_mnist", "channel_shift", "cnn_transfer", "cvae_ood"], 900)


def run_bare(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak resident MiB, exit code) of one command run directly."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def bare_commands(assignment: catalog.Assignment, folder: Path) -> list[tuple[str, float, float, int]]:
    reference_workspace(assignment, folder)
    dataset = assignment.dataset()
    ctx = RunContext(int(STUDENT[-assignment.spec.seed.digits:]), dataset, data_root(), LocalSandbox().python(),
                     secret_seed=secret_seed(STUDENT, assignment.id), holdout_dir=holdout_dir(assignment, dataset))
    # Assets (cvae_ood's judge) are built once per dataset and cached, by the grading as by this.
    ctx = replace(ctx, assets=ensure_assets(assignment, dataset, ctx.data_dir, LocalSandbox(), ctx.substitute),
                  trusted_assets=ensure_assets(assignment, dataset, ctx.data_dir, LocalSandbox(), ctx.substitute,
                                               trusted=True, holdout_dir=ctx.holdout_dir))
    env = {**base_environment(assignment.spec.limits, folder), **dataset_env(assignment, ctx)}
    Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    rows = []
    for experiment in assignment.spec.experiments:
        argv = ctx.argv(experiment.command, trusted=experiment.trusted,
                        scores=[f"{one.log}={one.model}" for one in experiment.scores])
        seconds, peak, code = run_bare(argv, folder, env)
        rows.append((experiment.name, seconds, peak, code))
    return rows


def broken_submission(assignment: catalog.Assignment, dest: Path) -> Path:
    """The reference with a syntax error in its first editable Python file, or, for a notebook
    assignment, in the notebook's first code cell that the student wrote."""
    reference_workspace(assignment, dest / "work")
    target = dest / f"{STUDENT}_broken"
    target.mkdir(parents=True)
    for rel in assignment.spec.editable:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dest / "work" / rel, target / rel)
    first_py = next((rel for rel in assignment.spec.editable if rel.endswith(".py")), None)
    if first_py:
        (target / first_py).write_text("def broken(:\n" + (target / first_py).read_text())
    else:
        import nbformat

        from grader.inside.notebook import read_notebook
        from grader.steps.given_cells import is_todo_cell

        notebook_rel = next(rel for rel in assignment.spec.editable if rel.endswith(".ipynb"))
        notebook = read_notebook(target / notebook_rel)
        # Given cells are restored from the skeleton before the run: break one the student fills in
        # (the skeleton is the reference with its solution blocks stubbed, cell for cell).
        skeleton = read_notebook(assignment.skeleton_dir / notebook_rel)
        index = next(i for i, cell in enumerate(skeleton.cells) if is_todo_cell(cell))
        notebook.cells[index].source = "def broken(:\n" + notebook.cells[index].source
        nbformat.write(notebook, str(target / notebook_rel))
    return target


def accounting(assignment: catalog.Assignment, report, graded_s: float) -> dict[str, float]:
    """Whose time a grading is: the student's commands (experiments that run student code) and
    the grader's (trusted scoring steps, hidden tests, intake, workspace, reports: the rest)."""
    trusted = {e.name for e in assignment.spec.experiments if e.trusted}
    student = sum(run.seconds for run in report.runs if run.name not in trusted)
    trusted_s = sum(run.seconds for run in report.runs if run.name in trusted)
    grader = graded_s - student
    return {"student": student, "trusted": trusted_s, "grader": grader, "share": grader / graded_s if graded_s else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*",
                        default=["colored_mnist", "channel_shift", "cnn_transfer", "cvae_ood"])
    parser.add_argument("--root", type=Path, default=None, help="the course root (default: this repository)")
    args = parser.parse_args()
    sandbox = LocalSandbox()
    for assignment_id in args.assignments:
        assignment = catalog.load(assignment_id, args.root.resolve() if args.root else None)
        # Once per course build, not per submission: the reference's outputs through the hidden
        # tests' runners and the assets (cvae_ood's judge) are cached before anything is timed.
        start = time.perf_counter()
        expected_outputs(assignment, sandbox)
        dataset = assignment.dataset()
        held_out = holdout_dir(assignment, dataset)
        substitute = RunContext(0, dataset, data_root(), sandbox.python(), holdout_dir=held_out).substitute
        ensure_assets(assignment, dataset, data_root(), sandbox, substitute)
        ensure_assets(assignment, dataset, data_root(), sandbox, substitute, trusted=True, holdout_dir=held_out)
        course_build = time.perf_counter() - start
        # Once per worker, not per submission: the interpreter the trusted steps and hidden tests
        # fork from, with the course's modules imported (local backend; GRADER_WARM_START=0: none).
        warm_start = sandbox.warm_up(assignment.spec.limits, preload_modules(assignment))
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            reference = next(e for e in make_examples(assignment, tmp / "subs", [STUDENT], baselines=False)
                             if e.kind == "reference")
            # Bare before and after the grading: a machine's speed drifts over minutes, and the
            # faster of two bare runs is the fair yardstick for the one grading between them.
            first_s = None
            if warm_start is not None:
                # A worker's first submission: its trusted step teaches the preloaded interpreter
                # the modules torch imports lazily (grader/inside/warm_start.py). Timed apart: every
                # later submission of the batch is the one measured below.
                first_start = time.perf_counter()
                grade_submission(reference.zip_path, assignment, sandbox, tmp / "out0")
                first_s = time.perf_counter() - first_start
            before = bare_commands(assignment, tmp / "bare1")
            graded_start = time.perf_counter()
            report = grade_submission(reference.zip_path, assignment, sandbox, tmp / "out")
            graded = time.perf_counter() - graded_start
            after = bare_commands(assignment, tmp / "bare2")
            broken_start = time.perf_counter()
            broken = grade_submission(broken_submission(assignment, tmp / "broken"), assignment, sandbox, tmp / "out2")
            broken_s = time.perf_counter() - broken_start
        bare = [min(a, b, key=lambda row: row[1]) for a, b in zip(before, after)]
        steps = {run.name: run.seconds for run in report.runs}
        print(f"{assignment_id}: reference scored {report.score:g}/{report.max_score:g}, {os.cpu_count()} cores")
        for name, seconds, peak, code in bare:
            target = MEMORY_TARGET_MIB.get(assignment_id)
            verdict = "" if target is None else f" (target <= {target} MiB: {'met' if peak <= target else 'MISSED'})"
            print(f"  bare {name:<22} {seconds:6.1f} s  (graded step {steps.get(name, float('nan')):6.1f} s)  "
                  f"peak {peak:7.0f} MiB{verdict}" + (f"  exit {code}" if code else ""))
        bare_total = sum(row[1] for row in bare)
        split = accounting(assignment, report, graded)
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items() if k not in ("experiments", "total"))
        print(f"  bare commands in all      {bare_total:6.1f} s  "
              "(the faster of a run before and one after the grading)")
        print(f"  graded (local backend)    {graded:6.1f} s  ratio to the bare commands {graded / bare_total:.3f} "
              f"(the machine's drift between runs is in it)")
        print(f"  the student's commands    {split['student']:6.1f} s  (the experiments that run the student's code)")
        print(f"  the grader's own time     {split['grader']:6.1f} s  (trusted scoring steps {split['trusted']:.1f} s; "
              f"{phases}): its share of the grading {split['share']:.1%} "
              f"(target <= 5%: {'met' if split['share'] <= 0.05 else 'MISSED'})")
        print(f"  grader's own peak         {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MiB")
        print(f"  once per course build     {course_build:6.1f} s  "
              "(expected outputs and assets; 0 when already cached)")
        modules = ", ".join(preload_modules(assignment)) or "no module"
        print("  once per worker           " + ("  none (GRADER_WARM_START=0)" if warm_start is None else
              f"{warm_start:6.1f} s  (the preloaded interpreter: {modules}); the worker's first "
              f"submission {first_s:.1f} s"))
        print(f"  submission that does not import: {broken_s:6.1f} s (score {broken.score:g}; "
              f"{sum(r.outcome.startswith(('skipped', 'not started')) for r in broken.runs)} "
              "steps skipped or not started)", flush=True)


if __name__ == "__main__":
    main()
