"""`grader list`: the assignments of the course root."""

from __future__ import annotations

from grader.commands.session import Session
from grader.errors import GraderError


def run(session: Session) -> None:
    ids = session.assignment_ids()
    if not ids:
        raise GraderError("no assignments found", session.root / "assignments")
    for assignment_id in ids:
        a = session.load(assignment_id)
        dataset = a.dataset()
        session.console.print(f"{assignment_id:16} {a.spec.title}  (max {a.rubric.max_score(dataset):g} points"
                              f"{', dataset ' + dataset if dataset else ''})")
