#!/usr/bin/env python3
"""Benchmark: batch grading on Dask workers.

1. A synthetic assignment whose one step sleeps 1 s, graded through the batch grader on an
   in-process Dask cluster with 1, 8 and 64 worker threads (100, 1,000 and 1,000 submissions):
   throughput, speed-up over 1 worker, and two per-submission overheads: beyond the 1 s sleep,
   (wall - ceil(n / workers) s) * workers / n, which includes starting the step's Python; and
   beyond the pipeline's own time for the submission (its report's `total`), which is what the
   batch and the executor (Dask or the local pool) add.
   Targets: overhead < 50 ms per submission, speed-up at 64 workers within 10% of linear. Also the
   CPU time per submission and so the cores that 64 workers at 90% of linear need.
2. Real colored_mnist reference submissions (distinct seeds) through 2 Dask worker processes
   vs the local pool with --jobs 2: the ratio of wall times (target within 5%).

3. --engine-overhead: the same synthetic batch, but its step costs no CPU: the sandbox sleeps
   1 s in the worker's thread and writes the step's log itself (no interpreter starts), so what
   is left per submission is the engine's own cost (the batch, Dask, the pipeline, the report)
   and 64 and 256 workers can be measured on a small machine: 1, 64 and 256 worker threads
   (20/256/1,024 submissions; --quick 10/128/512).

Run on purpose: `.venv/bin/python benchmarks/scale_out.py [--quick] [--skip-real] [--engine-overhead]`.
--quick grades 10/80/256 synthetic submissions and 2 real ones."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SPEC = """title: One-second step
editable: [answer.py]
required: [answer.py]
experiments:
  - name: step
    command: "{python} step.py"
    log: log.txt
limits: {wall_seconds: 120, memory_mb: 1024, output_bytes: 10000}
intake: {max_files: 5, max_bytes: 10000}
validation_student_id: "20250042"
"""
RUBRIC = """assignment: sleepy
items:
  - id: value
    title: The value the step prints
    kind: metric
    log: log.txt
    key: value
    tiers: [{op: ">=", threshold: 1, points: 1}]
"""
STEP = 'import time\ntime.sleep(1.0)\nfrom answer import value\nprint("Summary: " + repr({"value": value()}))\n'
ANSWER = "def value():\n    return 1.0\n"


def synthetic_course(root: Path) -> None:
    (root / "assignments" / "sleepy").mkdir(parents=True)
    (root / "assignments" / "sleepy" / "assignment.yaml").write_text(SPEC)
    (root / "rubrics").mkdir()
    (root / "rubrics" / "sleepy.yaml").write_text(RUBRIC)
    for part in ("skeleton", "solutions"):
        (root / part / "sleepy").mkdir(parents=True)
        (root / part / "sleepy" / "step.py").write_text(STEP)
        (root / part / "sleepy" / "answer.py").write_text(ANSWER)


def synthetic_batch(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for k in range(count):
        path = folder / f"2026{k:04d}_s{k}.zip"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("answer.py", ANSWER)
        paths.append(path)
    return paths


def cpu_seconds() -> float:
    """CPU time of this process (the in-process Dask workers are its threads) and of its
    children that ended (every step's Python)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_batch(sources, assignment, executor, out: Path) -> tuple[float, list, float]:
    """(wall seconds, reports, CPU seconds in all)."""
    from grader.batch.run import grade_batch

    quiet = Console(file=open(os.devnull, "w"))
    start, cpu = time.perf_counter(), cpu_seconds()
    result = grade_batch(sources, assignment, executor, out, dataset=None, student_id=None, console=quiet,
                         use_cache=False)
    return time.perf_counter() - start, result.reports, cpu_seconds() - cpu


def dask_threads(workers: int, backend: str, fingerprint: str):
    from distributed import Client, LocalCluster

    from grader.batch.dask_client import DaskExecutor

    cluster = LocalCluster(n_workers=1, threads_per_worker=workers, processes=False, dashboard_address=None)
    client = Client(cluster)
    return DaskExecutor(client, backend, fingerprint, f"in-process, {workers} threads", cluster)


class SleepingSandbox:
    """A step that costs no CPU: sleeps STEP_S in the calling thread and writes what step.py would
    print. For the engine-overhead mode: no process starts, so only the engine's own work is left."""

    name = "local"  # what the course fingerprint and the reports say; nothing runs
    STEP_S = 1.0

    def python(self) -> str:
        return "python3"

    def run(self, request):
        from grader.sandbox.base import RunResult

        time.sleep(self.STEP_S)
        request.log_path.write_text("Summary: " + repr({"value": 1.0}) + "\n")
        return RunResult(exit_code=0, timed_out=False, seconds=self.STEP_S, output_truncated=False, cpu_seconds=0.0)

    def cancel_all(self) -> None:
        pass


def synthetic(counts: dict[int, int], tmp: Path, sleeping: bool = False) -> None:
    from grader.batch.dask_worker import course_fingerprint
    from grader.batch.executors import LocalExecutor
    from grader.course import catalog
    from grader.sandbox import LocalSandbox

    if sleeping:  # the in-process workers' grade_task makes its sandbox here
        import grader.sandbox

        grader.sandbox.make_sandbox = lambda *args, **kwargs: SleepingSandbox()
        LocalSandbox = SleepingSandbox  # noqa: N806 - the local pool's sandbox too

    root = tmp / "course"
    synthetic_course(root)
    os.environ[catalog.ROOT_ENV] = str(root)  # the in-process workers read the course from here
    assignment = catalog.load("sleepy", root)
    fingerprint = course_fingerprint(root, "local")
    print(f"synthetic 1 s step, {'slept in the worker (engine overhead)' if sleeping else 'local backend'}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'executor':<24}{'workers':>8}{'subs':>7}{'wall s':>9}{'subs/s':>9}{'speed-up':>10}"
          f"{'of linear':>11}{'over 1 s, ms':>14}{'over pipeline, ms':>19}{'CPU ms/sub':>12}")
    base = None
    cpu_per_sub = {}  # (executor, workers) -> CPU seconds per submission
    pool = 64 if sleeping else 8
    rows = [("dask", w, n) for w, n in counts.items()] + [("local pool", pool, counts.get(pool, 80))]
    for kind, workers, count in rows:
        sources = synthetic_batch(tmp / f"batch-{kind.replace(' ', '')}-{workers}", count)
        executor = dask_threads(workers, "local", fingerprint) if kind == "dask" else LocalExecutor(LocalSandbox(),
                                                                                                     workers)
        wall, reports, cpu = run_batch(sources, assignment, executor, tmp / f"out-{kind.replace(' ', '')}-{workers}")
        cpu_per_sub[kind, workers] = cpu / count
        bad = [r for r in reports if r.status != "graded" or r.score != 1]
        if bad or len(reports) != count:
            raise SystemExit(f"{kind} {workers}: {len(bad)} of {len(reports)} not graded 1/1: {bad[0].message}")
        throughput = count / wall
        base = base or (throughput if workers == 1 and kind == "dask" else None)
        speedup = throughput / base if base else float("nan")
        overhead = (wall - math.ceil(count / workers)) * workers / count
        executor_overhead = wall * workers / count - statistics.fmean(r.timings["total"] for r in reports)
        print(f"{kind:<24}{workers:>8}{count:>7}{wall:>9.1f}{throughput:>9.2f}{speedup:>10.2f}"
              f"{speedup / workers:>11.0%}{overhead * 1000:>14.0f}{executor_overhead * 1000:>19.0f}"
              f"{cpu / count * 1000:>12.0f}")
    # Every submission costs CPU (its step's Python, the grader's own work): the cores bound the
    # throughput whatever the executor, and 64 one-second steps at once need this many of them.
    if sleeping:
        for workers in sorted(counts):
            print(f"engine CPU per submission with {workers} Dask workers: "
                  f"{cpu_per_sub['dask', workers] * 1000:.0f} ms")
        return
    cpu_each = cpu_per_sub["dask", max(counts)]  # the configuration the target is about
    need = 0.9 * 64 * base * cpu_each if base else float("nan")
    print(f"CPU per submission with {max(counts)} Dask workers: {cpu_each * 1000:.0f} ms, "
          f"so {os.cpu_count()} cores grade at most "
          f"{os.cpu_count() / cpu_each:.1f} a second; 64 workers within 10% of linear ({0.9 * 64 * base:.1f} a second) "
          f"need {math.ceil(need)} cores at that cost")


def real(count: int, tmp: Path) -> None:
    from distributed import Client, LocalCluster

    from grader.batch.dask_client import DaskExecutor
    from grader.batch.dask_worker import WORKERS_ENV, course_fingerprint
    from grader.batch.executors import LocalExecutor
    from grader.commands.examples import make_examples
    from grader.course import catalog
    from grader.sandbox import LocalSandbox

    os.environ.pop(catalog.ROOT_ENV, None)
    assignment = catalog.load("colored_mnist", REPO)
    examples = make_examples(assignment, tmp / "real", [str(20260000 + k * 1117) for k in range(count)],
                             baselines=False)
    sources = [e.zip_path for e in examples if e.kind == "reference"]
    local_wall, local_reports, _ = run_batch(sources, assignment, LocalExecutor(LocalSandbox(), 2), tmp / "real-local")
    os.environ[WORKERS_ENV] = "2"  # as `--cluster local:2` does: the two workers share the cores like -j 2
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    executor = DaskExecutor(Client(cluster), "local", course_fingerprint(REPO, "local"), "local:2", cluster)
    dask_wall, dask_reports, _ = run_batch(sources, assignment, executor, tmp / "real-dask")
    same = [a.scores_only() for a in local_reports] == [b.scores_only() for b in dask_reports]
    print(f"colored_mnist reference x {len(sources)}, local backend: local pool -j 2 {local_wall:.1f} s, "
          f"2 Dask workers {dask_wall:.1f} s, ratio {dask_wall / local_wall:.3f} (target within 5%); "
          f"scores {'equal' if same else 'DIFFER'}: {[r.score for r in dask_reports]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10/80/256 synthetic and 2 real submissions")
    parser.add_argument("--skip-real", action="store_true", help="leave out the colored_mnist part")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the colored_mnist part")
    parser.add_argument("--engine-overhead", action="store_true",
                        help="only the engine's own cost: steps that sleep in the worker, 1/64/256 workers")
    args = parser.parse_args()
    counts = {1: 10, 8: 80, 64: 256} if args.quick else {1: 100, 8: 1000, 64: 1000}
    if args.engine_overhead:
        with tempfile.TemporaryDirectory(prefix="grader-scale-") as tmp:
            synthetic({1: 10, 64: 128, 256: 512} if args.quick else {1: 20, 64: 256, 256: 1024}, Path(tmp),
                      sleeping=True)
        return
    with tempfile.TemporaryDirectory(prefix="grader-scale-") as tmp:
        if not args.skip_synthetic:
            synthetic(counts, Path(tmp))
        if not args.skip_real:
            real(2 if args.quick else 4, Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
