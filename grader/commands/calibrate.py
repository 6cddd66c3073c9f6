"""`grader calibrate`: grade the reference and the baselines over many student seeds and show,
per metric item, the distribution of values and how often each tier is met. Thresholds are
chosen from this: the reference must pass on every seed, the baselines fail on every seed."""

from __future__ import annotations

import datetime
import os
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.commands.examples import grade_examples, make_examples
from grader.commands.session import Session
from grader.course import calibration
from grader.course.calibration import CalibrationFile, CalibrationRecord, CalibrationRun, write
from grader.course.catalog import Assignment
from grader.course.spec import MetricItem, load_model
from grader.errors import GraderError
from grader.sandbox import Sandbox


def calibration_ids(n: int) -> list[str]:
    """N student IDs whose last four digits (the seed) are spread out and distinct."""
    return [f"2026{(1000 + 7919 * k) % 10000:04d}" for k in range(n)]


def calibrate(assignment: Assignment, sandbox: Sandbox, seeds: int, out: Path, console: Console,
              dataset: str | None = None, baselines: bool = True, jobs: int = 1, command: str | None = None,
              write_to_course: bool = False, only: str | None = None) -> CalibrationRecord:
    """Grades the reference (and the baselines; with `only`, that one example) with N student seeds,
    prints the table and saves the runs as a calibration record (the form of
    assignments/<id>/calibration.yaml) in `out`; with write_to_course, merged into that file instead.
    `command` is the command line as typed, for the record's `measured`."""
    if command is None:
        command = (f"grader calibrate {assignment.id} --seeds {seeds}{'' if baselines else ' --skip-baselines'}"
                   f"{f' -j {jobs}' if jobs > 1 else ''}{f' --dataset {dataset}' if dataset else ''}"
                   f"{f' --only {only}' if only else ''}")
    labels_known = [calibration.REFERENCE] + [b.name for b in assignment.spec.baselines]
    if only is not None and only not in labels_known:
        raise GraderError(f"--only {only!r}: not the reference or a baseline of {assignment.id} "
                          f"(choices: {', '.join(labels_known)})")
    dataset = assignment.dataset(dataset)
    runs: list[CalibrationRun] = []
    with tempfile.TemporaryDirectory(prefix="grader-calibrate-") as tmp:
        made = make_examples(assignment, Path(tmp), calibration_ids(seeds), baselines or only is not None, only=only)
        examples = [e for e in made if e.kind != "skeleton"]
        done = [0]

        def show(example, report) -> None:
            done[0] += 1
            console.print(f"[{done[0]}/{len(examples)}] {example.label} {example.zip_path.stem.split('_')[0]}: "
                          f"{report.score:g}")

        for example, report in grade_examples(examples, assignment, sandbox, out / "calibrate", dataset, console, jobs,
                                              on_report=show):
            if report.seed is None:  # not graded at all: its report says why
                continue
            runs.append(CalibrationRun(submission=example.label, seed=report.seed, values={
                item.id: item.value if isinstance(item.value, float) else None
                for item in report.items if item.kind == "metric"},
                memory_mb={r.name: r.memory_peak_mb for r in report.runs if r.memory_peak_mb is not None}))
    labels = {e.label: k for k, e in enumerate(examples)}
    runs.sort(key=lambda run: (labels.get(run.submission, len(labels)), run.seed))  # -j N finishes in any order
    if not runs:
        raise GraderError(f"no example of {assignment.id} was graded: nothing to record")
    record = CalibrationRecord(dataset=dataset, runs=runs, measured=(
        f"{datetime.date.today()}, {os.cpu_count()} cores, {sandbox.name} backend: {command}"))
    print_calibration(assignment, record, console)
    if write_to_course:
        path = assignment.folder / calibration.FILE_NAME
        earlier = load_model(CalibrationFile, path) if path.is_file() else None
        merged = merge(earlier, record, assignment.id)
        write(merged, path)
        problems = calibration.structural_problems(merged, assignment) + calibration.disagreements(merged, assignment)
        console.print(f"{len(runs)} runs merged into {path}")
        for problem in problems:
            console.print(f"[yellow]note[/]: {problem}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"calibration_{assignment.id}{'_' + dataset if dataset else ''}.yaml"
        write(CalibrationFile(assignment=assignment.id, records=[record]), path)
        console.print(f"runs saved to {path} (the form of {assignment.folder.name}/calibration.yaml's records; "
                      "--write merges them into it)")
    return record


def merge(earlier: CalibrationFile | None, new: CalibrationRecord, assignment_id: str) -> CalibrationFile:
    """`new`'s runs in the record of its dataset: a run of the same submission and seed is replaced,
    every other earlier run, the notes and `others` are kept, and `measured` gains a line."""
    if earlier is None:
        return CalibrationFile(assignment=assignment_id, records=[new])
    old = earlier.record(new.dataset)
    if old is None:
        return earlier.model_copy(update={"records": [*earlier.records, new]})
    remeasured = {(run.submission, run.seed) for run in new.runs}
    kept = [run for run in old.runs if (run.submission, run.seed) not in remeasured]
    order = list(dict.fromkeys([run.submission for run in old.runs] + [run.submission for run in new.runs]))
    runs = sorted(kept + new.runs, key=lambda run: (order.index(run.submission), run.seed))
    record = old.model_copy(update={"runs": runs, "measured": f"{old.measured.rstrip()}\nthen {new.measured}"})
    return earlier.model_copy(update={"records": [record if r is old else r for r in earlier.records]})


def print_calibration(assignment: Assignment, record: CalibrationRecord, console: Console) -> None:
    table = Table(title=f"{assignment.id} calibration ({record.dataset or 'no dataset'})", header_style="bold")
    for col in ("submission", "item", "n", "min", "mean", "max", "tier pass rates"):
        table.add_column(col)
    for label in record.submissions():
        for item in assignment.rubric.items:
            values = record.values(label, item.id) if isinstance(item, MetricItem) else []
            if not values:
                continue
            got = [v for v in values if v is not None]
            rates = [f"{tier.describe()}: {sum(tier.met_by(v) for v in got)}/{len(values)}"
                     for tier in item.tiers_for(record.dataset)]
            row = [f"{min(got):.4f}", f"{statistics.fmean(got):.4f}", f"{max(got):.4f}"] if got else ["-", "-", "-"]
            table.add_row(label, item.id, str(len(values)), *row, ", ".join(rates))
    console.print(table)
    for label in record.submissions():
        steps: dict[str, list[float]] = {}
        for run in record.runs:
            if run.submission == label:
                for step, mb in run.memory_mb.items():
                    steps.setdefault(step, []).append(mb)
        if steps:
            console.print(f"peak memory of {label} (MiB, highest over its runs): "
                          + ", ".join(f"{step} {max(mbs):.0f}" for step, mbs in steps.items()))


def run(session: Session, assignment_id: str, seeds: int, backend: str | None, dataset: str | None, out: Path,
        skip_baselines: bool, jobs: int, command: str | None = None, write_to_course: bool = False,
        only: str | None = None) -> None:
    """`grader calibrate`; `command` is the command line as typed."""
    calibrate(session.load(assignment_id), session.sandbox(backend), seeds, out, session.console, dataset,
              baselines=not skip_baselines, jobs=jobs, command=command, write_to_course=write_to_course, only=only)
