"""`grader export`: a graded folder's grades as an LMS gradebook CSV and one feedback file per student."""

from __future__ import annotations

from pathlib import Path

from grader.commands.session import Session
from grader.reports.export import export


def run(session: Session, graded: Path, lms: str, target: Path, assignment_name: str | None,
        canvas_assignment_id: str | None, roster: Path | None, feedback_dir: Path | None, published: bool) -> None:
    result = export(graded, target, lms=lms, assignment_name=assignment_name, canvas_assignment_id=canvas_assignment_id,
                    roster=roster, feedback_dir=feedback_dir, published=published)
    for line in result.skipped:
        session.err.print(f"skipped {line}", markup=False)
    for line in result.notes:
        session.err.print(f"warning: {line}", markup=False)
    session.console.print(f"wrote {result.gradebook} ({result.rows} students), feedback in {result.feedback_dir} "
                          f"and {result.feedback_zip}")
