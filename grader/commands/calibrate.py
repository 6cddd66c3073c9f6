"""`grader calibrate`: grade the reference and the baselines over many student seeds and show,
per metric item, the distribution of values and how often each tier is met. Thresholds are
chosen from this: the reference must pass on every seed, the baselines fail on every seed."""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.catalog import Assignment
from grader.commands.examples import grade_examples, make_examples
from grader.sandbox import Runner
from grader.spec import MetricItem


def calibration_ids(n: int) -> list[str]:
    """N student IDs whose last four digits (the seed) are spread out and distinct."""
    return [f"2026{(1000 + 7919 * k) % 10000:04d}" for k in range(n)]


def calibrate(assignment: Assignment, runner: Runner, seeds: int, out: Path, console: Console,
              dataset: str | None = None, baselines: bool = True,
              jobs: int = 1) -> dict[str, dict[str, list[float | None]]]:
    """Returns {submission label: {item id: [value per seed]}} and prints the table."""
    dataset = assignment.dataset(dataset)
    values: dict[str, dict[str, list[float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="grader-calibrate-") as tmp:
        made = make_examples(assignment, Path(tmp), calibration_ids(seeds), baselines)
        examples = [e for e in made if e.kind != "skeleton"]
        done = [0]

        def show(example, report) -> None:
            done[0] += 1
            console.print(f"[{done[0]}/{len(examples)}] {example.label} {example.zip_path.stem.split('_')[0]}: "
                          f"{report.score:g}")

        for example, report in grade_examples(examples, assignment, runner, out / "calibrate", dataset, console, jobs,
                                              on_report=show):
            per_item = values.setdefault(example.label, {})
            for item in report.items:
                if item.kind == "metric":
                    per_item.setdefault(item.id, []).append(item.value if isinstance(item.value, float) else None)
    out.mkdir(parents=True, exist_ok=True)
    record = out / f"calibration_{assignment.id}{'_' + dataset if dataset else ''}.json"
    record.write_text(json.dumps({"assignment": assignment.id, "dataset": dataset, "seeds": seeds, "values": values},
                                 indent=1))
    print_calibration(assignment, dataset, values, console)
    console.print(f"values saved to {record}")
    return values


def print_calibration(assignment: Assignment, dataset: str | None, values, console: Console) -> None:
    table = Table(title=f"{assignment.id} calibration ({dataset})", header_style="bold")
    for col in ("submission", "item", "n", "min", "mean", "max", "tier pass rates"):
        table.add_column(col)
    for label, per_item in values.items():
        for item in assignment.rubric.items:
            if not isinstance(item, MetricItem) or item.id not in per_item:
                continue
            got = [v for v in per_item[item.id] if v is not None]
            rates = []
            for tier in item.tiers_for(dataset):
                met = sum(tier.met_by(v) for v in got)
                rates.append(f"{tier.describe()}: {met}/{len(per_item[item.id])}")
            row = [f"{min(got):.4f}", f"{statistics.fmean(got):.4f}", f"{max(got):.4f}"] if got else ["-", "-", "-"]
            table.add_row(label, item.id, str(len(per_item[item.id])), *row, ", ".join(rates))
    console.print(table)
