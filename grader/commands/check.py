"""`grader check`: a student's likely score, from the logs in their folder, with the same rubric
code the TA uses."""

from __future__ import annotations

from pathlib import Path

from grader.commands.package import seed_mismatches
from grader.commands.session import Session
from grader.reports.report import print_summary
from grader.steps.pipeline import check_own_logs, seed_for
from grader.steps.workspace import EDITED_GIVEN, without_missing_logs


def run(session: Session, assignment_id: str, folder: Path, dataset: str | None, student_id: str | None) -> None:
    assignment = session.load(assignment_id)
    report = check_own_logs(assignment, folder.resolve(), session.sandbox("local"), dataset=dataset,
                            student_id=student_id)
    report.warnings = without_missing_logs(report.warnings, assignment.output_files())
    if any(flag.startswith(EDITED_GIVEN) for flag in report.flags):
        report.warnings.append("your logs came from a notebook whose given cells you edited; grading runs it with "
                               "them restored as the handout has them, so its results may differ from yours")
    if student_id:
        report.seed = seed_for(student_id, assignment.spec.seed)
        report.warnings.extend(seed_mismatches(assignment, folder.resolve(), student_id))
    print_summary(report, session.console)
    session.console.print("hidden tests and the TA's re-run of your experiments decide the final score.")
