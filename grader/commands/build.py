"""`grader build`: regenerate skeleton/<id> from solutions/<id>, or check it is in sync."""

from __future__ import annotations

import re

from grader.commands.session import Session
from grader.course.catalog import Assignment
from grader.course.skeleton import check_in_sync, generate
from grader.errors import GraderError

# Students run run.sh without the grader, so it computes the seed itself; this line is the one
# place it keeps the seed rule, and the build holds it to assignment.yaml's.
SEED_DIGITS_LINE = re.compile(r"^seed_digits=(\d+)\b", re.MULTILINE)


def seed_rule_disagreements(assignment: Assignment) -> list[str]:
    run_sh = assignment.solution_dir / "run.sh"
    if not run_sh.is_file():
        return []
    found = SEED_DIGITS_LINE.findall(run_sh.read_text(encoding="utf-8"))
    want = assignment.spec.seed.digits
    if found == [str(want)]:
        return []
    has = f"seed_digits={', '.join(found)}" if found else "no seed_digits= line"
    return [f"run.sh has {has}, but the seed rule (assignment.yaml seed.digits) takes the last {want} digits"]


def build(assignment: Assignment) -> list[str]:
    problems = seed_rule_disagreements(assignment)
    if problems:
        raise GraderError(problems[0], assignment.solution_dir / "run.sh")
    return generate(assignment.solution_dir, assignment.skeleton_dir, assignment.output_files())


def out_of_sync(assignment: Assignment) -> list[str]:
    return seed_rule_disagreements(assignment) + check_in_sync(assignment.solution_dir, assignment.skeleton_dir,
                                                               assignment.output_files())


def run(session: Session, assignment_ids: tuple[str, ...], check_only: bool) -> None:
    """`grader build [--check]` over the named assignments, or all of them."""
    stale_any = False
    for assignment_id in session.assignment_ids(assignment_ids):
        a = session.load(assignment_id)
        if check_only:
            stale = out_of_sync(a)
            stale_any |= bool(stale)
            session.console.print(f"{assignment_id}: " + ("[red]out of sync[/]: " + "; ".join(stale) if stale
                                                          else "[green]in sync[/]"))
        else:
            files = build(a)
            session.console.print(f"{assignment_id}: wrote {len(files)} files to {a.skeleton_dir}")
    if stale_any:
        raise GraderError("skeleton out of sync with solutions: run `grader build`")
