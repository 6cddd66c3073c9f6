"""`grader build`: regenerate skeleton/<id> from solutions/<id>, or check it is in sync."""

from __future__ import annotations

import re

from grader.commands.session import Session
from grader.course.catalog import Assignment
from grader.course.skeleton import check_in_sync, generate
from grader.errors import GraderError
from grader.sandbox.image import STUDENT_REQUIREMENTS

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


REQUIREMENTS_HEADER = ("# Exactly what the grading image provides (grader/sandbox/image.py STUDENT_REQUIREMENTS): "
                       "code that\n"
                       "# imports anything else runs here but fails when the TA grades it. "
                       "Written by `grader build`.\n")
NOTEBOOK_NOTE = ("# The notebook runner (nbclient, ipykernel) and Jupyter come with the grader tool (grader-tool/),\n"
                 "# each listed once.\n")


def requirements_text(assignment: Assignment) -> str:
    """The handout's requirements.txt: the image's student packages, then the assignment's extras."""
    notebook = any(path.endswith(".ipynb") for path in assignment.spec.editable)
    extras = [r for r in assignment.spec.requirements if r not in STUDENT_REQUIREMENTS]
    return (REQUIREMENTS_HEADER + (NOTEBOOK_NOTE if notebook else "") + "\n".join(STUDENT_REQUIREMENTS) + "\n"
            + ("# this assignment's own (assignment.yaml requirements)\n" + "\n".join(extras) + "\n" if extras else ""))


def written_files(assignment: Assignment) -> dict[str, str]:
    """The skeleton's files that come from the grader, not from the solution folder."""
    return {"requirements.txt": requirements_text(assignment)}


def build(assignment: Assignment) -> list[str]:
    problems = seed_rule_disagreements(assignment)
    if problems:
        raise GraderError(problems[0], assignment.solution_dir / "run.sh")
    return generate(assignment.solution_dir, assignment.skeleton_dir, assignment.output_files(),
                    written_files(assignment), assignment.spec.limits.thread_count())


def out_of_sync(assignment: Assignment) -> list[str]:
    return seed_rule_disagreements(assignment) + check_in_sync(assignment.solution_dir, assignment.skeleton_dir,
                                                               assignment.output_files(), written_files(assignment),
                                                               assignment.spec.limits.thread_count())


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
