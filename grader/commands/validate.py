"""`grader validate`: prove an assignment is gradeable through the real pipeline: the
reference gets full marks, the untouched skeleton zero, each baseline its declared points,
and the checked-in skeleton matches what the solutions generate."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from grader.commands.build import out_of_sync
from grader.commands.examples import grade_examples, make_examples
from grader.commands.session import Session
from grader.course import calibration
from grader.course.catalog import Assignment
from grader.reports.report import Report, print_summary
from grader.sandbox import Sandbox


@dataclass
class Check:
    what: str
    ok: bool
    detail: str


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
        baseline = next(b for b in assignment.spec.baselines if b.name == label)
        points = {i.id: i.points for i in report.items}
        for item_id, expected in baseline.expect_items.items():
            if points.get(item_id) != expected:
                problems.append(f"{item_id}: {points.get(item_id)} points, expected {expected:g}")
        if baseline.expect_score is not None and report.score != baseline.expect_score:
            problems.append(f"score {report.score:g}, expected {baseline.expect_score:g}")
    return problems


def validate(assignment: Assignment, sandbox: Sandbox, out: Path, console: Console, dataset: str | None = None,
             baselines: bool = True, jobs: int = 1) -> list[Check]:
    checks = []
    stale = out_of_sync(assignment)
    checks.append(Check("skeleton in sync", not stale, "; ".join(stale[:5]) or "skeleton matches solutions"))
    recorded = calibration.load(assignment)
    if recorded is not None:
        problems = calibration.disagreements(recorded, assignment)
        checks.append(Check("calibration record", not problems,
                            "; ".join(problems[:3]) or "the rubric's tiers agree with every recorded run"))
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


def run(session: Session, assignment_ids: tuple[str, ...], backend: str | None, dataset: str | None,
        skip_baselines: bool, out: Path | None, jobs: int) -> int:
    """`grader validate` over the named assignments, or all of them; exit code 1 when a check fails."""
    failed = False
    with tempfile.TemporaryDirectory(prefix="grader-validate-out-") as tmp:
        for assignment_id in session.assignment_ids(assignment_ids):
            checks = validate(session.load(assignment_id), session.sandbox(backend), out or Path(tmp), session.console,
                              dataset, baselines=not skip_baselines, jobs=jobs)
            for c in checks:
                session.console.print(f"{assignment_id}: {'[green]ok[/]  ' if c.ok else '[red]FAIL[/]'} {c.what}: {c.detail}")
                failed |= not c.ok
    if failed:
        session.err.print("validation failed")
    return 1 if failed else 0
