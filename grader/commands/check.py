"""`grader check`: a student's likely score, from the logs in their folder, with the same rubric
code the TA uses."""

from __future__ import annotations

from pathlib import Path

from grader.commands.package import seed_mismatches
from grader.commands.session import Session
from grader.reports.report import print_summary
from grader.steps.pipeline import check_own_logs


def run(session: Session, assignment_id: str, folder: Path, dataset: str | None, student_id: str | None) -> None:
    assignment = session.load(assignment_id)
    report = check_own_logs(assignment, folder.resolve(), session.sandbox("local"), dataset=dataset, student_id=student_id)
    if student_id:
        report.warnings.extend(seed_mismatches(assignment, folder.resolve(), student_id))
    print_summary(report, session.console)
    session.console.print("hidden tests and the TA's re-run of your experiments decide the final score.")
