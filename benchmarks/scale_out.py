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

3. --engine-overhead: what the engine itself costs per submission, on a real deployment on this
   machine, started afresh for each row: `dask scheduler`, and the `dask worker` that `grader worker
   ADDRESS --nworkers P` starts (its argv and environment, a nanny per worker process; here with
   --threads-per-process T threads each, default 8: 64 workers are 8 processes, 256 are 32; T=1 is
   `grader worker --nworkers 64` itself), graded through what `grader grade --cluster tcp://...` runs
   (connect, check_workers, DaskExecutor, grade_batch). The synthetic step sleeps 1 s in the worker's
   thread and writes its log (this file, preloaded into the workers, swaps in SleepingSandbox): no
   process starts, so what is left is the engine's own work: the batch (cache keys, staging, the
   reports written under --out), Dask (client, scheduler, workers, nannies) and the pipeline (intake,
   workspace, scoring, the report). 1, 64 and 256 workers grade 16, 512 and 1,024 submissions (16, 8
   and 4 rounds; 32/1,024/2,048 without --quick); the local pool (one process, 64 threads) grades as
   many as 64 workers do, before the 256-worker row.
   Columns: start, from starting the scheduler until every worker thread has joined and the workers
   have checked the course (not in the wall time); wall, grade_batch from its call to its return;
   speed-up over the 1-worker row and its share of linear (target >= 90% at 64 workers); over 1 s,
   (wall - rounds x 1 s) x workers / submissions, the wall time each submission costs beyond its step
   (the per-task overhead; target < 20 ms); over pipe, wall x workers / submissions minus the
   pipeline's mean time (its report's `total`, the step included), what the batch and Dask add; CPU
   per submission of every process over the wall time (idle background included): this one (the
   batch and the Dask client), the scheduler, the worker processes with their nannies; the load
   average when the row started, and how busy the machine's CPUs were in the 3 s before it (other
   users' work, or the tail of the previous row's start).

   --scratch DIR makes the workers' workspaces there (`grader worker --scratch DIR`), e.g. on a tmpfs;
   the header names the folder and its filesystem.

Run on purpose: `.venv/bin/python benchmarks/scale_out.py [--quick] [--skip-real] [--engine-overhead
[--threads-per-process T] [--scratch DIR]]`.
--quick grades 10/80/256 synthetic submissions and 2 real ones."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
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


def speed_up(kind: str, workers: int, count: int, reports: list, wall: float, base: float | None):
    """(submissions a second, the 1-worker Dask baseline, speed-up over it) of a row whose every
    submission must be graded 1/1."""
    bad = [r for r in reports if r.status != "graded" or r.score != 1]
    if bad or len(reports) != count:
        why = bad[0].message if bad else "reports missing"
        raise SystemExit(f"{kind} {workers}: {len(bad)} of {len(reports)} of {count} not graded 1/1: {why}")
    throughput = count / wall
    base = base or (throughput if workers == 1 and kind == "dask" else None)
    return throughput, base, throughput / base if base else float("nan")


def dask_threads(workers: int, backend: str, fingerprint: str):
    from distributed import Client, LocalCluster

    from grader.batch.dask_client import DaskExecutor

    cluster = LocalCluster(n_workers=1, threads_per_worker=workers, processes=False, dashboard_address=None)
    client = Client(cluster)
    return DaskExecutor(client, backend, fingerprint, f"in-process, {workers} threads", cluster)


SLEEP_ENV = "GRADER_BENCH_SLEEPING_STEP"  # set in the engine-overhead workers' environment


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


def dask_setup(worker) -> None:
    """`dask worker --preload benchmarks/scale_out.py`: in the engine-overhead workers every
    submission's sandbox is a SleepingSandbox (grade_task makes its sandbox with make_sandbox)."""
    if os.environ.get(SLEEP_ENV):
        import grader.sandbox

        grader.sandbox.make_sandbox = lambda *args, **kwargs: SleepingSandbox()


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and all their live descendants."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


def own_cpu() -> float:
    """CPU seconds of this process alone (all its threads: the batch, the Dask client)."""
    t = os.times()
    return t.user + t.system


class Deployment:
    """A real deployment on this machine, as docs/scale-out.md describes it: `dask scheduler`, and
    the `dask worker` that `grader worker ADDRESS --nworkers P` starts (its argv and environment,
    each worker process with its nanny; `threads` per process), as subprocesses."""

    def __init__(self, tmp: Path, processes: int, threads: int, env: dict[str, str], scratch: Path | None = None):
        import json
        import subprocess
        import uuid

        from grader.commands.worker import worker_argv, worker_env

        scheduler_file = tmp / f"scheduler-{uuid.uuid4().hex[:8]}.json"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
        self.scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                           "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                                           str(scheduler_file)], env=env, **quiet)
        deadline = time.monotonic() + 120
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                self.close()
                raise SystemExit("the Dask scheduler did not start")
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        argv = worker_argv(self.address, "tcp", None, processes, threads) + ["--preload", str(Path(__file__))]
        self.workers = subprocess.Popen(argv, env=worker_env("local", processes, env, scratch=scratch), **quiet)

    def pids(self) -> dict[str, list[int]]:
        return {"scheduler": [self.scheduler.pid], "workers": [self.workers.pid]}

    def close(self) -> None:
        for proc in [p for p in (getattr(self, "workers", None), self.scheduler) if p is not None]:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(30)
            except Exception:  # noqa: BLE001 - killed below
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


PROCESS_MB = 100  # a worker process's resident memory, measured (its nanny lives in the `dask worker` parent)
ENGINE_ROWS = {"quick": [(1, 16), (64, 512), (256, 1024)], "full": [(1, 32), (64, 1024), (256, 2048)]}


def engine_overhead(rows: list[tuple[int, int]], threads_per_process: int, tmp: Path,
                    scratch: Path | None = None) -> None:
    """Each row (worker threads, submissions) on a fresh deployment; then the local pool. The
    workers (and the local pool) make workspaces in `scratch` (`grader worker --scratch`) if given."""
    import psutil

    from grader.batch.dask_client import DaskExecutor, check_workers, connect
    from grader.batch.dask_worker import course_fingerprint, filesystem_of
    from grader.batch.executors import LocalExecutor
    from grader.course import catalog

    root = tmp / "course"
    synthetic_course(root)
    assignment = catalog.load("sleepy", root)
    fingerprint = course_fingerprint(root, "local")
    env = dict(os.environ, **{catalog.ROOT_ENV: str(root), SLEEP_ENV: "1",
                              "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    where = str(scratch.resolve()) if scratch else tempfile.gettempdir()
    print(f"engine overhead: each submission's 1 s step sleeps in its worker thread (no process starts); "
          f"{os.cpu_count()} cores; workspaces in {where} ({filesystem_of(Path(where))})")
    print(f"{'executor':<11}{'workers':>8}{'procs':>6}{'subs':>6}{'start s':>8}{'wall s':>8}{'subs/s':>8}"
          f"{'speed-up':>9}{'of linear':>10}{'over 1 s':>9}{'over pipe':>10}{'CPU/sub':>8}{'client':>7}"
          f"{'sched':>6}{'workers':>8}{'load':>6}{'busy':>7}")
    print(f"{'':<11}{'':>8}{'':>6}{'':>6}{'':>8}{'':>8}{'':>8}{'':>9}{'':>10}{'ms':>9}{'ms':>10}{'ms':>8}"
          f"{'ms':>7}{'ms':>6}{'ms':>8}")
    base = None
    results = {}
    pool = max(w for w, _ in rows if w <= 64)
    # The local pool before the largest cluster, whose start (a Python process and its nanny per worker
    # process) keeps the machine busy for a while after it.
    order = [("dask", w, n) for w, n in rows[:-1]] + [("local pool", pool, dict(rows)[pool]), ("dask", *rows[-1])]
    for kind, workers, count in order:
        sources = synthetic_batch(tmp / f"engine-{kind.replace(' ', '')}-{workers}", count)
        load, busy = os.getloadavg()[0], psutil.cpu_percent(interval=3)  # the machine before the row
        started = time.perf_counter()
        if kind == "dask":
            processes = max(1, workers // threads_per_process)
            if processes * PROCESS_MB * 2**20 > psutil.virtual_memory().available / 2:
                print(f"{kind:<11}{workers:>8}{processes:>6}{count:>6}  skipped: {processes} worker processes need "
                      f"about {processes * PROCESS_MB / 1024:.1f} GB, over half the memory available")
                continue
            deployment = Deployment(tmp, processes, max(1, workers // processes), env, scratch)
            try:
                client, _ = connect(deployment.address, certs=None, insecure=False)
                deadline = time.monotonic() + 300
                while sum(client.nthreads().values()) < workers:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"only {sum(client.nthreads().values())} of {workers} worker threads joined")
                    time.sleep(0.1)
                check_workers(client, fingerprint, "local")  # as `grader grade --cluster` does before grading
                start_s = time.perf_counter() - started
                executor = DaskExecutor(client, "local", fingerprint, deployment.address)
                pids = deployment.pids()
                cpu0 = {"client": own_cpu(), **{role: tree_cpu(p) for role, p in pids.items()}}
                wall, reports, _ = run_batch(sources, assignment, executor, tmp / f"out-engine-{workers}")
                cpu = {"client": own_cpu() - cpu0["client"],
                       **{role: tree_cpu(p) - cpu0[role] for role, p in pids.items()}}
            finally:
                deployment.close()
        else:
            processes, start_s = 1, 0.0
            cpu0 = own_cpu()
            tempfile.tempdir = where  # the local pool's workspaces where the workers make theirs
            try:
                wall, reports, _ = run_batch(sources, assignment, LocalExecutor(SleepingSandbox(), workers),
                                             tmp / "out-engine-pool")
            finally:
                tempfile.tempdir = None
            cpu = {"client": own_cpu() - cpu0, "scheduler": 0.0, "workers": 0.0}
        throughput, base, speedup = speed_up(kind, workers, count, reports, wall, base)
        over_step = (wall - math.ceil(count / workers) * SleepingSandbox.STEP_S) * workers / count
        over_pipeline = wall * workers / count - statistics.fmean(r.timings["total"] for r in reports)
        total = sum(cpu.values())
        results[kind, workers] = (speedup / workers, over_step, total / count)
        print(f"{kind:<11}{workers:>8}{processes:>6}{count:>6}{start_s:>8.1f}{wall:>8.2f}{throughput:>8.2f}"
              f"{speedup:>9.2f}{speedup / workers:>10.0%}{over_step * 1000:>9.0f}{over_pipeline * 1000:>10.0f}"
              f"{total / count * 1000:>8.1f}{cpu['client'] / count * 1000:>7.1f}{cpu['scheduler'] / count * 1000:>6.1f}"
              f"{cpu['workers'] / count * 1000:>8.1f}{load:>6.1f}{busy:>6.0f}%")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    for workers in [w for w, _ in rows if w > 1 and ("dask", w) in results]:
        linear, over_step, cpu_each = results["dask", workers]
        print(f"{workers} Dask workers: {linear:.0%} of linear{' (target >= 90%)' if workers == 64 else ''}, "
              f"{over_step * 1000:.0f} ms per "
              f"submission beyond its step, {cpu_each * 1000:.1f} ms of CPU per submission, so {os.cpu_count()} "
              f"cores grade at most {os.cpu_count() / cpu_each:.0f} a second")
    print(f"1 Dask worker: {results['dask', 1][1] * 1000:.0f} ms per submission beyond its step (target < 20 ms)")


def synthetic(counts: dict[int, int], tmp: Path) -> None:
    from grader.batch.dask_worker import course_fingerprint
    from grader.batch.executors import LocalExecutor
    from grader.course import catalog
    from grader.sandbox import LocalSandbox

    root = tmp / "course"
    synthetic_course(root)
    os.environ[catalog.ROOT_ENV] = str(root)  # the in-process workers read the course from here
    assignment = catalog.load("sleepy", root)
    fingerprint = course_fingerprint(root, "local")
    print(f"synthetic 1 s step, local backend, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'executor':<24}{'workers':>8}{'subs':>7}{'wall s':>9}{'subs/s':>9}{'speed-up':>10}"
          f"{'of linear':>11}{'over 1 s, ms':>14}{'over pipeline, ms':>19}{'CPU ms/sub':>12}")
    base = None
    cpu_per_sub = {}  # (executor, workers) -> CPU seconds per submission
    pool = 8
    rows = [("dask", w, n) for w, n in counts.items()] + [("local pool", pool, counts.get(pool, 80))]
    for kind, workers, count in rows:
        sources = synthetic_batch(tmp / f"batch-{kind.replace(' ', '')}-{workers}", count)
        executor = dask_threads(workers, "local", fingerprint) if kind == "dask" else LocalExecutor(LocalSandbox(),
                                                                                                     workers)
        wall, reports, cpu = run_batch(sources, assignment, executor, tmp / f"out-{kind.replace(' ', '')}-{workers}")
        cpu_per_sub[kind, workers] = cpu / count
        throughput, base, speedup = speed_up(kind, workers, count, reports, wall, base)
        overhead = (wall - math.ceil(count / workers)) * workers / count
        executor_overhead = wall * workers / count - statistics.fmean(r.timings["total"] for r in reports)
        print(f"{kind:<24}{workers:>8}{count:>7}{wall:>9.1f}{throughput:>9.2f}{speedup:>10.2f}"
              f"{speedup / workers:>11.0%}{overhead * 1000:>14.0f}{executor_overhead * 1000:>19.0f}"
              f"{cpu / count * 1000:>12.0f}")
    # Every submission costs CPU (its step's Python, the grader's own work): the cores bound the
    # throughput whatever the executor, and 64 one-second steps at once need this many of them.
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
    parser.add_argument("--threads-per-process", type=int, default=8, metavar="T",
                        help="--engine-overhead: worker threads per worker process (default 8: 64 workers are 8 "
                             "processes; 1 is `grader worker --nworkers 64`)")
    parser.add_argument("--scratch", type=Path, default=None, metavar="DIR",
                        help="--engine-overhead: the workers' scratch folder (`grader worker --scratch DIR`; "
                             "default: the temp folder), e.g. /dev/shm")
    args = parser.parse_args()
    # Stopped by `timeout` or kill: unwind, so each row's scheduler and workers are stopped (left
    # running, they took CPU from every later measurement on the machine).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    counts = {1: 10, 8: 80, 64: 256} if args.quick else {1: 100, 8: 1000, 64: 1000}
    if args.engine_overhead:
        with tempfile.TemporaryDirectory(prefix="grader-scale-") as tmp:
            engine_overhead(ENGINE_ROWS["quick" if args.quick else "full"], args.threads_per_process, Path(tmp),
                            args.scratch)
        return
    with tempfile.TemporaryDirectory(prefix="grader-scale-") as tmp:
        if not args.skip_synthetic:
            synthetic(counts, Path(tmp))
        if not args.skip_real:
            real(2 if args.quick else 4, Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
