"""`grader validate`: prove an assignment is gradeable through the real pipeline: the
reference gets full marks, the untouched skeleton zero, each baseline exactly the points it
declares on the items it loses and full points on every other, the checked-in skeleton matches
what the solutions generate, and every metric item has a calibration record. `--tests-only`:
the hidden tests alone, in seconds, as a matrix of cases x examples."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.commands.build import out_of_sync
from grader.commands.examples import example_trees, grade_examples, make_examples
from grader.commands.session import Session
from grader.course import calibration
from grader.course.catalog import Assignment
from grader.course.spec import Baseline, MetricItem, ParamCountItem, TestsItem
from grader.errors import GraderError
from grader.reports.report import Report, print_summary
from grader.sandbox import Sandbox
from grader.steps import hidden_tests
from grader.verdict.evidence import Evidence
from grader.verdict.score import score


@dataclass
class Check:
    what: str
    ok: bool
    detail: str


def _differences(points: dict[str, float], expected: dict[str, float], declared: dict[str, float]) -> list[str]:
    """Each item whose points are not the expected ones, saying whether the baseline declared it."""
    problems = []
    for item_id, want in expected.items():
        got = points.get(item_id)
        if got is not None and abs(got - want) < 1e-6:
            continue
        shown = "-" if got is None else f"{got:g}"
        if item_id in declared:
            problems.append(f"{item_id}: {shown} points, declared {want:g}")
        else:
            problems.append(f"{item_id}: {shown} points, not declared as lost (expected its full {want:g})")
    return problems


def _expectations(report: Report, kind: str, assignment: Assignment, label: str) -> list[str]:
    problems: list[str] = []
    if report.status != "graded":
        return [f"status {report.status}: {report.message}"]
    if kind == "reference":
        if report.score < report.max_score:  # bonus may lift it above, up to the cap
            problems.append(f"score {report.score:g}, expected full marks {report.max_score:g}")
        problems += [f"{i.id}: {i.status} ({i.message})" for i in report.items if i.status != "passed"]
    elif kind == "skeleton":
        if report.score != 0:
            problems.append(f"score {report.score:g}, expected 0")
    else:
        baseline = _baseline(assignment, label)
        problems += _differences({i.id: i.points for i in report.items},
                                 baseline.expected_points(assignment.rubric, report.dataset), baseline.expect_items)
        if baseline.expect_score is not None and report.score != baseline.expect_score:
            problems.append(f"score {report.score:g}, expected {baseline.expect_score:g}")
    return problems


def _baseline(assignment: Assignment, name: str) -> Baseline:
    return next(b for b in assignment.spec.baselines if b.name == name)


def _course_checks(assignment: Assignment, dataset: str | None, baselines: bool) -> list[Check]:
    """What is checked without running anything: the skeleton in sync, the calibration record (one
    for every metric item, agreeing with the rubric), each baseline's declaration."""
    checks = []
    stale = out_of_sync(assignment)
    checks.append(Check("skeleton in sync", not stale, "; ".join(stale[:5]) or "skeleton matches solutions"))
    recorded = calibration.load(assignment)
    dataset = assignment.dataset(dataset)
    metrics = [item.id for item in assignment.rubric.items if isinstance(item, MetricItem)]
    record = recorded.record(dataset) if recorded is not None else None
    missing = [m for m in metrics if record is None or not [v for v in record.values(calibration.REFERENCE, m)
                                                             if v is not None]]
    if missing:
        where = (f"no {calibration.FILE_NAME}" if recorded is None else
                 f"no record of dataset {dataset}" if record is None else "no recorded reference value")
        checks.append(Check("calibration of metric items", False, f"{where} for {', '.join(missing)} "
                            f"(`grader calibrate {assignment.id} --write` records them)"))
    elif metrics:
        checks.append(Check("calibration of metric items", True, f"{', '.join(metrics)} recorded"))
    if recorded is not None:
        problems = calibration.disagreements(recorded, assignment)
        checks.append(Check("calibration record", not problems,
                            "; ".join(problems[:3]) or "the rubric's tiers agree with every recorded run"))
    for baseline in assignment.spec.baselines if baselines else []:
        problems = baseline.declaration_problems(assignment.rubric, dataset)
        if problems:
            checks.append(Check(f"baseline {baseline.name} declaration", False, "; ".join(problems)))
    return checks


def validate(assignment: Assignment, sandbox: Sandbox, out: Path, console: Console, dataset: str | None = None,
             baselines: bool = True, jobs: int = 1) -> list[Check]:
    checks = _course_checks(assignment, dataset, baselines)
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as tmp:
        examples = make_examples(assignment, Path(tmp), [assignment.spec.validation_student_id], baselines)
        console.print(f"[bold]{assignment.id}[/]: grading {', '.join(e.label for e in examples)}"
                      + (f" ({jobs} at a time)" if jobs > 1 else "") + " ...")
        graded = grade_examples(examples, assignment, sandbox, out / assignment.id, dataset, console, jobs,
                                on_report=lambda example, report: print_summary(report, console))
        for example, report in graded:
            problems = _expectations(report, example.kind, assignment, example.label)
            what = example.kind if example.kind == example.label else f"{example.kind} {example.label}"
            checks.append(Check(what, not problems,
                                "; ".join(problems) or f"{report.score:g}/{report.max_score:g} as expected"))
    return checks


# ------------------------------------------------------------------------ --tests-only

@dataclass
class Column:
    """One example's hidden tests: (item id, case) -> passed, and the points of each runner item."""
    kind: str
    label: str
    cases: dict[tuple[str, str], bool]
    points: dict[str, float]
    error: str | None


def _runner_items(assignment: Assignment) -> list:
    return [i for i in assignment.rubric.items
            if isinstance(i, TestsItem) or (isinstance(i, ParamCountItem) and i.runner is not None)]


def _hidden_tests_of(assignment: Assignment, kind: str, label: str, folder: Path, sandbox: Sandbox,
                     expected, dataset: str | None) -> Column:
    run = hidden_tests.run_step(assignment, folder, sandbox, assignment.spec.limits)
    tests = [i for i in assignment.rubric.items if isinstance(i, TestsItem)]
    outcomes = hidden_tests.check_tests(tests, assignment, run, expected)
    params = {i.id: hidden_tests.param_count_from(i, run) for i in _runner_items(assignment)
              if isinstance(i, ParamCountItem)}
    scored = {r.id: r for r in score(assignment.rubric, dataset, Evidence(tests=outcomes, params=params)).items}
    cases = {(item_id, c.name): c.passed for item_id, outcome in outcomes.items() for c in outcome.cases}
    for item in _runner_items(assignment):
        if item.id in params:
            cases[(item.id, f"parameters of {item.object}")] = scored[item.id].points == scored[item.id].max_points
    runner_ids = {i.id for i in _runner_items(assignment)}
    errors = {o.error for o in outcomes.values() if o.error} | {p.error for p in params.values() if p.error}
    return Column(kind, label, cases, {k: r.points for k, r in scored.items() if k in runner_ids},
                  run.error or ("; ".join(sorted(errors))[:300] if errors and not cases else None))


def _column_problems(column: Column, assignment: Assignment, dataset: str | None) -> list[str]:
    items = {i.id: i for i in _runner_items(assignment)}
    failing = [f"{item}::{case}" if item in items and isinstance(items[item], TestsItem) else item
               for (item, case), ok in column.cases.items() if not ok]
    passing = [f"{item}::{case}" if isinstance(items[item], TestsItem) else item
               for (item, case), ok in column.cases.items() if ok]
    problems = [f"the hidden-test step failed: {column.error}"] if column.error and column.kind != "skeleton" else []
    if column.kind == "reference":
        problems += [f"fails {name}" for name in failing]
        if not column.cases:
            problems.append("no hidden test ran")
    elif column.kind == "skeleton":
        problems += [f"passes {name}" for name in passing]
    else:
        baseline = _baseline(assignment, column.label)
        expected = {k: v for k, v in baseline.expected_points(assignment.rubric, dataset).items() if k in items}
        for difference in _differences(column.points, expected, baseline.expect_items):
            item_id = difference.split(":", 1)[0]
            lost = [c for (i, c), ok in column.cases.items() if i == item_id and not ok]
            problems.append(difference + (f" (fails {', '.join(lost)})"
                                          if lost and isinstance(items[item_id], TestsItem) else ""))
    return problems


def _print_matrix(assignment: Assignment, columns: list[Column], console: Console) -> None:
    table = Table(title=f"{assignment.id}: hidden tests", header_style="bold")
    table.add_column("item")
    table.add_column("case")
    for column in columns:
        table.add_column(column.label)
    rows = list(dict.fromkeys(key for column in columns for key in column.cases))
    for item_id, case in rows:
        cells = []
        for column in columns:
            ok = column.cases.get((item_id, case))
            cells.append("-" if ok is None else "[green]pass[/]" if ok else "[red]fail[/]")
        table.add_row(item_id, case, *cells)
    table.add_section()
    for item in _runner_items(assignment):
        table.add_row(item.id, "points", *[f"{c.points.get(item.id, 0):g}/{item.max_points(None):g}" for c in columns])
    console.print(table)


def validate_tests_only(assignment: Assignment, sandbox: Sandbox, console: Console, dataset: str | None = None,
                        baselines: bool = True) -> list[Check]:
    """Seconds, no training: the hidden tests against the reference, the skeleton and each baseline,
    printed as a matrix of cases; the reference must pass every case, the skeleton none, and each
    baseline earn from its runner items exactly the points it declares (its other items full)."""
    checks = _course_checks(assignment, dataset, baselines)
    dataset = assignment.dataset(dataset)
    if not _runner_items(assignment):
        return checks + [Check("hidden tests", True, "the rubric has none")]
    try:
        expected = hidden_tests.expected_outputs(assignment, sandbox, progress=console.print)
    except GraderError as exc:
        return checks + [Check("hidden tests: reference", False, str(exc))]
    with tempfile.TemporaryDirectory(prefix="grader-validate-tests-") as tmp:
        columns = [_hidden_tests_of(assignment, kind, label, folder, sandbox, expected, dataset)
                   for kind, label, folder in example_trees(assignment, Path(tmp), baselines)]
    _print_matrix(assignment, columns, console)
    for column in columns:
        problems = _column_problems(column, assignment, dataset)
        passed = sum(column.cases.values())
        what = column.kind if column.kind == column.label else f"{column.kind} {column.label}"
        checks.append(Check(f"hidden tests: {what}", not problems,
                            "; ".join(problems) or f"{passed}/{len(column.cases)} cases pass as expected"))
    return checks


def run(session: Session, assignment_ids: tuple[str, ...], backend: str | None, dataset: str | None,
        skip_baselines: bool, out: Path | None, jobs: int, tests_only: bool = False) -> int:
    """`grader validate` over the named assignments, or all of them; exit code 1 when a check fails.
    With tests_only, the hidden tests alone (no training)."""
    failed = False
    with tempfile.TemporaryDirectory(prefix="grader-validate-out-") as tmp:
        for assignment_id in session.assignment_ids(assignment_ids):
            if tests_only:
                checks = validate_tests_only(session.load(assignment_id), session.sandbox(backend), session.console,
                                             dataset, baselines=not skip_baselines)
            else:
                checks = validate(session.load(assignment_id), session.sandbox(backend), out or Path(tmp),
                                  session.console, dataset, baselines=not skip_baselines, jobs=jobs)
            for c in checks:
                session.console.print(f"{assignment_id}: {'[green]ok[/]  ' if c.ok else '[red]FAIL[/]'} "
                                      f"{c.what}: {c.detail}")
                failed |= not c.ok
    if failed:
        session.err.print("validation failed")
    return 1 if failed else 0
