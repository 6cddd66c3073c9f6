#!/usr/bin/env python3
"""Benchmark: the peak resident memory of every process of a graded reference submission, against
a per-process target (900 MiB: issue 25, "no MNIST-family process above 900 MiB").

Grades one reference submission per assignment through the real pipeline (local backend), so
every step runs as grading runs it: the student's commands (training, the notebook), the trusted
steps (in their fresh copies, with the held-out data and the secret seed) and the hidden-test
step; with `--assets` also the assignment's asset builds (cvae_ood's judge, once per dataset).
Each step's command is started by a small launcher that forks it, reaps it and every descendant
(it is their child subreaper) and reads each one's ru_maxrss from wait4: the exact peak of the
largest process of the step, free of the grader's own pages (a child exec'd straight from the
grader keeps the grader's pre-exec high-water mark in ru_maxrss). The launcher also samples each
descendant's VmHWM every 0.1 s, which names the processes of a step that has several (the
notebook's executor and its kernel); the largest is given the exact figure.

Prints one line per process (MiB, PASS/MISS against the target) and the score, which must be the
reference's full marks. The trusted steps and the hidden tests fork from the local backend's
preloaded interpreter, as in grading (after a first grading that teaches it torch's lazy
imports): their figure is wait4's peak of the forked process, and the interpreter's own peak has
its line (GRADER_WARM_START=0 measures them as fresh processes). Run on purpose (minutes per
assignment):
`.venv/bin/python benchmarks/process_memory.py [ASSIGNMENT ...] [--assets] [--target-mib 900]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.commands.examples import make_examples  # noqa: E402
from grader.course import catalog  # noqa: E402
from grader.sandbox import LocalSandbox, warm  # noqa: E402
from grader.sandbox.base import RunRequest, RunResult  # noqa: E402
from grader.steps.assets import ensure_assets  # noqa: E402
from grader.steps.hidden_tests import expected_outputs  # noqa: E402
from grader.steps.pipeline import RunContext, data_root, grade_submission  # noqa: E402

STUDENT = "20262426"
TARGET_MIB = 900.0
ASSIGNMENTS = ["colored_mnist", "channel_shift", "cnn_transfer", "cvae_ood"]

# Run as `python -I -S -c LAUNCHER RESULT.json ARGV...`: forks ARGV, becomes the child subreaper
# of its tree, samples every descendant's VmHWM, and writes the exact peak (the largest ru_maxrss
# wait4 reports for any process of the tree) with the samples. Exits with the command's status.
LAUNCHER = r'''
import ctypes, json, os, signal, sys, threading, time
out, argv = sys.argv[1], sys.argv[2:]
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
me = str(os.getpid())
seen, done = {}, threading.Event()

def sample():
    parents = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parents.setdefault(f.read().rsplit(")", 1)[1].split()[1], []).append(pid)
            except OSError:
                pass
    todo, tree = [me], []
    while todo:
        kids = parents.get(todo.pop(), [])
        tree += kids
        todo += kids
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as f:
                hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
            if hwm is None:
                continue
            if pid not in seen:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen[pid] = [f.read().replace(b"\0", b" ").decode(errors="replace").strip(), 0]
            seen[pid][1] = max(seen[pid][1], hwm)
        except (OSError, StopIteration):
            pass

def watch():
    while not done.wait(0.1):
        sample()

child = os.fork()
if child == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
threading.Thread(target=watch, daemon=True).start()
peak, status = 0, None
while True:
    try:
        pid, code, usage = os.wait4(-1, 0)
    except ChildProcessError:
        break
    peak = max(peak, usage.ru_maxrss)
    if pid == child:
        status = code
done.set()
processes = [{"pid": int(p), "cmd": c, "hwm_kib": h} for p, (c, h) in seen.items()]
with open(out, "w") as f:
    json.dump({"peak_kib": peak, "processes": processes}, f)
code = os.waitstatus_to_exitcode(status) if status is not None else 1
if code < 0:  # killed by a signal: end the same way, so the sandbox sees what it would have seen
    if -code != signal.SIGKILL:
        signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
'''


@dataclass
class Measured:
    step: str
    peak_mib: float  # exact: the largest ru_maxrss of any process of the step
    processes: list[tuple[str, float]] = field(default_factory=list)  # (command, MiB), sampled VmHWM
    ok: bool = True


class MeasuredSandbox(LocalSandbox):
    """The local backend with every command started through LAUNCHER; `results` collects, per
    step log, the launcher's figures (a step run twice keeps its last run)."""

    def __init__(self, scratch: Path) -> None:
        super().__init__()
        self.scratch = scratch
        self.results: dict[str, tuple[dict, RunResult, str]] = {}

    def run(self, request: RunRequest) -> RunResult:
        if request.preload is not None and warm.enabled():
            # The grader's own processes (trusted steps, hidden tests) run as grading runs them:
            # forked from the preloaded interpreter, which reports each one's wait4 peak.
            result = super().run(request)
            figures = {"peak_kib": (result.memory_peak_mb or 0) * 1024, "processes": []}
            self.results[request.log_path.name] = (figures, result, " ".join(request.argv) + " (forked)")
            return result
        out = self.scratch / f"launch-{len(self.results)}-{time.monotonic_ns()}.json"
        argv = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(out), *request.argv]
        result = super().run(replace(request, argv=argv))
        try:
            figures = json.loads(out.read_text())
        except (OSError, ValueError):
            figures = {"peak_kib": 0, "processes": []}
        self.results[request.log_path.name] = (figures, result, " ".join(request.argv))
        return result


def short(cmd: str, width: int = 46) -> str:
    """A process's command without the interpreter's path and the long arguments."""
    parts = cmd.split()
    if parts and "python" in Path(parts[0]).name:
        parts[0] = "python"
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 3] + "..."


def step_names(assignment: catalog.Assignment) -> dict[str, str]:
    names = {experiment.log: experiment.name for experiment in assignment.spec.experiments}
    names["hidden_tests.log"] = "hidden tests"
    names.update({f"asset_{asset.name}.log": f"asset {asset.name}" for asset in assignment.spec.assets})
    return names


def collect(sandbox: MeasuredSandbox, assignment: catalog.Assignment) -> list[Measured]:
    names = step_names(assignment)
    rows = []
    for log, (figures, result, command) in sandbox.results.items():
        peak = figures["peak_kib"] / 1024
        processes = sorted(((short(p["cmd"]), p["hwm_kib"] / 1024) for p in figures["processes"]
                            if p["hwm_kib"] >= 20 * 1024), key=lambda row: -row[1])
        if processes:  # the sampled largest is given the exact figure (its last 0.1 s may be missed)
            processes[0] = (processes[0][0], max(processes[0][1], peak))
        else:  # over before the first sample
            processes = [(short(command), peak)]
        rows.append(Measured(names.get(log, log), peak, processes, result.ok))
    return rows


def measure(assignment_id: str, root: Path | None, assets: bool, tmp: Path) -> tuple[str, list[Measured]]:
    assignment = catalog.load(assignment_id, root)
    dataset = assignment.dataset()
    plain = LocalSandbox()
    # The reference's hidden-test outputs and the assets are built once per course build; built
    # (or found) here first, so the graded submission below runs as every later one does.
    expected_outputs(assignment, plain)
    ensure_assets(assignment, dataset, data_root(), plain,
                  RunContext(0, dataset, data_root(), plain.python()).substitute)
    rows: list[Measured] = []
    if assets and assignment.spec.assets:
        sandbox = MeasuredSandbox(tmp)
        ctx = RunContext(0, dataset, data_root(), sandbox.python())
        ensure_assets(assignment, dataset, tmp / "assets-data", sandbox, ctx.substitute)  # a fresh build
        rows += collect(sandbox, assignment)
    reference = next(e for e in make_examples(assignment, tmp / "subs", [STUDENT], baselines=False)
                     if e.kind == "reference")
    if warm.enabled():  # a worker's first submission teaches its preloaded interpreter torch's lazy imports
        grade_submission(reference.zip_path, assignment, plain, tmp / "out0")
    sandbox = MeasuredSandbox(tmp)
    report = grade_submission(reference.zip_path, assignment, sandbox, tmp / "out")
    rows += collect(sandbox, assignment)
    for interpreter in warm.POOL.kept():
        peak = interpreter.peak_mib()
        if peak is not None:
            rows.append(Measured("preloaded", peak, [("the preloaded interpreter (once per worker)", peak)]))
    warm.POOL.stop_all()
    head = (f"{assignment_id} ({dataset}, seed {report.seed}): reference scored {report.score:g}/{report.max_score:g}"
            f" ({report.status})")
    return head, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", default=ASSIGNMENTS)
    parser.add_argument("--root", type=Path, default=None, help="the course root (default: this repository)")
    parser.add_argument("--assets", action="store_true", help="also build the assets afresh (cvae_ood's judge)")
    parser.add_argument("--target-mib", type=float, default=TARGET_MIB)
    args = parser.parse_args()
    target = args.target_mib
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; target: every process <= {target:g} MiB", flush=True)
    misses = 0
    for assignment_id in args.assignments:
        with tempfile.TemporaryDirectory(prefix="process-memory-") as tmp:
            head, rows = measure(assignment_id, args.root.resolve() if args.root else None, args.assets, Path(tmp))
        print(head)
        for row in rows:
            for i, (cmd, mib) in enumerate(row.processes):
                verdict = "PASS" if mib <= target else "MISS"
                misses += verdict == "MISS"
                step = row.step if i == 0 else ""
                note = "" if row.ok or i else "  (step failed)"
                print(f"  {step:<16} {cmd:<46} {mib:7.1f} MiB  {verdict}{note}")
        print(flush=True)
    load = os.getloadavg()
    print(f"{misses} process(es) over {target:g} MiB; "
          f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
