"""Calibration records: the metric values behind a rubric's tiers, in one validated form.

Every assignment keeps `assignments/<id>/calibration.yaml`: per dataset, the runs that were
graded (which submission, which seed, the scored values) and the notes that say why each
threshold sits where it does. `grader calibrate` writes a record in the same form. The records
are checked against the rubric (tests/course/test_calibration.py): the reference earns every metric
item's full points on every recorded seed, and each baseline earns exactly the points that
assignment.yaml expects of it (the items it declares lost, full points on every other), so a
threshold cannot be moved past the evidence unnoticed."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, model_validator

from grader.course.spec import MetricItem, Strict, load_model
from grader.errors import SpecError

FILE_NAME = "calibration.yaml"
REFERENCE = "reference"


class CalibrationRun(Strict):
    """One graded submission: its label, the seed it ran with, the scored metric values."""

    submission: str = Field(description="'reference', a baseline of assignment.yaml, or a label of `others`")
    seed: int
    values: dict[str, float | None] = Field(description="metric item id -> scored value (None: not produced)")
    memory_mb: dict[str, float] = Field(default_factory=dict, description="step (experiment) name -> its peak resident "
                                        "memory in MiB, where the backend measured it")


class OtherSubmission(Strict):
    """A submission measured for calibration that assignment.yaml does not declare as a baseline."""

    description: str = Field(min_length=1)
    expect_items: dict[str, float] = Field(default_factory=dict, description="item id -> exact points expected")


class CalibrationRecord(Strict):
    dataset: str | None
    measured: str = Field(min_length=1, description="When, on what machine and with which commands")
    notes: str = Field("", description="Why each threshold sits where it does")
    others: dict[str, OtherSubmission] = Field(default_factory=dict)
    runs: list[CalibrationRun] = Field(min_length=1)

    @model_validator(mode="after")
    def _runs_are_distinct(self) -> CalibrationRecord:
        seen = set()
        for run in self.runs:
            if (run.submission, run.seed) in seen:
                raise ValueError(f"submission {run.submission!r} seed {run.seed} is recorded twice")
            seen.add((run.submission, run.seed))
        return self

    def values(self, submission: str, item: str) -> list[float | None]:
        return [run.values[item] for run in self.runs if run.submission == submission and item in run.values]

    def submissions(self) -> list[str]:
        return list(dict.fromkeys(run.submission for run in self.runs))


class CalibrationFile(Strict):
    assignment: str
    records: list[CalibrationRecord] = Field(min_length=1)

    def record(self, dataset: str | None) -> CalibrationRecord | None:
        return next((r for r in self.records if r.dataset == dataset), None)


def tier_points(item: MetricItem, dataset: str | None, value: float | None) -> float:
    tier = item.tier_met(value, dataset) if value is not None else None
    return tier.points if tier else 0.0


def load(assignment) -> CalibrationFile | None:
    """The assignment's calibration file, validated against its spec and rubric; None if it has none."""
    path = assignment.folder / FILE_NAME
    if not path.is_file():
        return None
    calibration = load_model(CalibrationFile, path)
    problems = structural_problems(calibration, assignment)
    if problems:
        raise SpecError(problems[0], path)
    return calibration


def structural_problems(calibration: CalibrationFile, assignment) -> list[str]:
    """Names that do not exist: another assignment, an unknown dataset, item or submission."""
    problems = []
    if calibration.assignment != assignment.id:
        problems.append(f"field assignment: says {calibration.assignment!r}, expected {assignment.id!r}")
    datasets = set(assignment.spec.dataset.choices) if assignment.spec.dataset else {None}
    metrics = {item.id for item in assignment.rubric.items if isinstance(item, MetricItem)}
    baselines = {b.name for b in assignment.spec.baselines}
    for record in calibration.records:
        if record.dataset not in datasets:
            problems.append(f"dataset {record.dataset!r} is not one of the assignment's")
        for label in set(record.others) & (baselines | {REFERENCE}):
            problems.append(f"others: {label!r} is declared in assignment.yaml already")
        for label, other in record.others.items():
            for item_id in set(other.expect_items) - metrics:
                problems.append(f"others: {label!r} expects points of {item_id!r}, which is not a metric item")
        for run in record.runs:
            if run.submission not in baselines | {REFERENCE} | set(record.others):
                problems.append(f"run of {run.submission!r}: not the reference, a baseline or one of `others`")
            for item_id in set(run.values) - metrics:
                problems.append(f"run of {run.submission!r} seed {run.seed}: {item_id!r} is not a metric item")
    return problems


def disagreements(calibration: CalibrationFile, assignment) -> list[str]:
    """Where the rubric's tiers contradict a recorded run: the reference short of full points on a
    metric item, or a baseline (or other submission) not earning the points expected of it."""
    problems = []
    metrics = {item.id: item for item in assignment.rubric.items if isinstance(item, MetricItem)}
    baselines = {b.name: b for b in assignment.spec.baselines}
    for record in calibration.records:
        for run in record.runs:
            expected = _expected_points(run.submission, record, baselines, metrics, record.dataset, assignment.rubric)
            for item_id, value in run.values.items():
                if item_id not in expected:
                    continue
                got = tier_points(metrics[item_id], record.dataset, value)
                if got != expected[item_id]:
                    problems.append(f"{record.dataset or 'default'}: {run.submission} seed {run.seed}: {item_id} = "
                                    f"{value} earns {got:g} points, the calibration expects {expected[item_id]:g}")
    return problems


def _expected_points(label: str, record: CalibrationRecord, baselines, metrics, dataset, rubric) -> dict[str, float]:
    if label == REFERENCE:
        return {item_id: item.max_points(dataset) for item_id, item in metrics.items()}
    if label in baselines:  # the items it declares lost, every other item its full points
        return {k: v for k, v in baselines[label].expected_points(rubric, dataset).items() if k in metrics}
    return {k: v for k, v in record.others[label].expect_items.items() if k in metrics}


class _Flow(dict):
    pass


class _Dumper(yaml.SafeDumper):
    """Notes as literal blocks, one run per line: a record reads like the table it is."""


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))
_Dumper.add_representer(str, lambda d, data: d.represent_scalar(
    "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None))


def peak_memory_mb(calibration: CalibrationFile | None, submission: str = REFERENCE) -> float | None:
    """The highest peak resident memory of one step over the submission's recorded runs (every
    dataset); None when no run records one."""
    peaks = [mb for record in (calibration.records if calibration else []) for run in record.runs
             if run.submission == submission for mb in run.memory_mb.values()]
    return max(peaks) if peaks else None


def write(calibration: CalibrationFile, path: Path) -> None:
    data = calibration.model_dump(exclude_defaults=True)
    for record in data["records"]:
        if "notes" in record:
            record["notes"] = "\n".join(line.rstrip() for line in record["notes"].splitlines()) + "\n"
        record["runs"] = [_Flow(run, values=_Flow(run["values"]),
                                **({"memory_mb": _Flow(run["memory_mb"])} if "memory_mb" in run else {}))
                          for run in record["runs"]]
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True))
