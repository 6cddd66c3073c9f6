"""`grader demo` (what `./run.sh` runs): grade the bundled example submissions of one assignment,
the reference, the untouched skeleton and one known-wrong baseline, and print the gradebook."""

from __future__ import annotations

from pathlib import Path

from grader.batch.run import exit_code
from grader.commands.examples import make_examples
from grader.commands.grade import grade_all
from grader.commands.session import Session


def run(session: Session, assignment_id: str, backend: str | None, dataset: str | None, out: Path) -> int:
    a = session.load(assignment_id)
    examples = make_examples(a, out / "submissions", [a.spec.validation_student_id], distinct_ids=True)
    chosen = [e for e in examples if e.kind != "baseline"] + [e for e in examples if e.kind == "baseline"][:1]
    reports = grade_all([e.zip_path for e in chosen], a, session.sandbox(backend), out, dataset=dataset,
                        student_id=None, console=session.console, detail=False)
    return 0 if exit_code(reports) < 2 else 2
