"""`grader build`: regenerate skeleton/<id> from solutions/<id>, or check it is in sync."""

from __future__ import annotations

from grader.catalog import Assignment
from grader.skeleton import check_in_sync, generate


def build(assignment: Assignment) -> list[str]:
    return generate(assignment.solution_dir, assignment.skeleton_dir, assignment.output_files())


def out_of_sync(assignment: Assignment) -> list[str]:
    return check_in_sync(assignment.solution_dir, assignment.skeleton_dir, assignment.output_files())
