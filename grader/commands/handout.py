"""`grader handout`: the folder students get: skeleton code, run.sh, their README, the rubric.
Never the solutions or the hidden tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.catalog import Assignment
from grader.commands.build import out_of_sync
from grader.errors import GraderError


def make_handout(assignment: Assignment, dest: Path) -> Path:
    stale = out_of_sync(assignment)
    if stale:
        raise GraderError(f"skeleton is out of date ({stale[0]}); run `grader build` first", assignment.skeleton_dir)
    if dest.exists() and any(dest.iterdir()):
        raise GraderError("folder exists and is not empty", dest)
    shutil.copytree(assignment.skeleton_dir, dest, dirs_exist_ok=True)
    shutil.copyfile(assignment.rubric_path, dest / "rubric.yaml")
    return dest
