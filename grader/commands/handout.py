"""`grader handout`: the folder a course posts: skeleton code, run.sh, the README, the public
rubric, data instructions, and `grader-tool/`, the student's own `grader` (check and package) that
installs with one `pip install ./grader-tool` from the handout. Never the solutions or the hidden tests:
the tool carries the grader's code, the assignment's settings and the skeleton, nothing else of
the course repository."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import yaml

from grader import __version__
from grader.commands.build import out_of_sync
from grader.commands.session import Session
from grader.course.catalog import HANDOUT_COURSE, Assignment
from grader.course.spec import TestsItem
from grader.errors import GraderError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the grader package
HIDDEN_PLACEHOLDER = "# The hidden tests are not in the handout: they run only when the course staff grade.\n"

TOOL_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "grader"
version = "{version}"
description = "The student side of the course's autograder: grader check and grader package for {assignment}"
requires-python = ">=3.11"
dependencies = {dependencies}

[project.scripts]
grader = "grader.cli:main"

[tool.setuptools.packages.find]
include = ["grader*"]

[tool.setuptools.package-data]
grader = ["reports/templates/*", "reports/schemas/*", "handout_course/**/*"]
"""

STUDENT_SECTION = """

## Your grader tool

The handout carries the course's grader for this assignment (the same scoring code the course
staff use; no solutions or hidden tests). Install it once, from this folder:

    pip install ./grader-tool

Then, after `./run.sh YOUR_STUDENT_ID`:

    grader check {assignment} --dir . --student-id YOUR_STUDENT_ID   # your likely score from your logs
    grader package {assignment} --student-id YOUR_STUDENT_ID --name yourname   # the zip you hand in

`check` marks the hidden tests as skipped: the course staff's re-run of your experiments and
their hidden tests decide the final score. `package` refuses logs made with another seed than
your student ID's. Data: see DATA.md.
"""


def _data_instructions(assignment: Assignment) -> str:
    lines = [f"# Data for {assignment.spec.title}", ""]
    if assignment.spec.dataset:
        lines += ["The experiments read one of these datasets (the graded one is the default):", ""]
        for name, choice in assignment.spec.dataset.choices.items():
            default = " (default, as graded)" if name == assignment.spec.dataset.default else ""
            lines.append(f"- `{name}`{default}: {choice.description}")
        lines.append("")
    lines += [
        "Three ways to get it:",
        "",
        "1. Online: `./run.sh YOUR_STUDENT_ID --download` (or `DOWNLOAD=1 ./run.sh YOUR_STUDENT_ID`) lets",
        "   torchvision download the data into `data/` the first time.",
        "2. Debian or Ubuntu: `sudo apt-get install dataset-fashion-mnist` puts Fashion-MNIST under",
        "   /usr/share/datasets/fashion-mnist, where the code looks without any flag.",
        "3. Copy the raw files you got from the course into `data/` (the error message of a run without",
        "   data names the folder it looked in).",
        "",
        "Never hand the data in: `grader package` leaves `data/` and caches out of the zip.",
    ]
    return "\n".join(lines) + "\n"


def _tool_dependencies() -> str:
    pyproject = tomllib.loads((PACKAGE_ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    return "[" + ", ".join(f'"{d}"' for d in pyproject["project"]["dependencies"]) + "]"


def _write_tool(assignment: Assignment, tool: Path) -> None:
    """grader-tool/: the grader package with the one assignment's public course data inside it."""
    shutil.copytree(PACKAGE_ROOT, tool / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", HANDOUT_COURSE))
    course = tool / "grader" / HANDOUT_COURSE
    folder = course / "assignments" / assignment.id
    folder.mkdir(parents=True)
    spec = assignment.spec.model_dump(mode="json", exclude={"baselines"})  # baselines are edits of the reference
    (folder / "assignment.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (course / "rubrics").mkdir()
    _write_public_rubric(assignment, course / "rubrics" / f"{assignment.id}.yaml")
    public = yaml.safe_load((course / "rubrics" / f"{assignment.id}.yaml").read_text(encoding="utf-8"))
    for item in public["items"]:
        for rel in filter(None, (item.get("runner"), item.get("checker"))):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(HIDDEN_PLACEHOLDER, encoding="utf-8")
    shutil.copytree(assignment.skeleton_dir, course / "skeleton" / assignment.id,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (tool / "pyproject.toml").write_text(
        TOOL_PYPROJECT.format(version=__version__, assignment=assignment.id, dependencies=_tool_dependencies()),
        encoding="utf-8")


def _write_public_rubric(assignment: Assignment, dest: Path) -> None:
    """The rubric as students may read it: declared hidden-test cases (their inputs are hidden
    tests) become a placeholder runner file of the same name, their weights kept; a rubric that
    declares none is copied as it is, comments and all."""
    if not any(isinstance(item, TestsItem) and item.cases for item in assignment.rubric.items):
        shutil.copyfile(assignment.rubric_path, dest)
        return
    data = assignment.rubric.model_dump(mode="json", exclude_defaults=True)
    for item, dumped in zip(assignment.rubric.items, data["items"]):
        if isinstance(item, TestsItem) and item.cases:
            dumped.pop("cases")
            dumped["kind"], dumped["runner"] = "tests", item.runner or f"hidden_tests/{item.stem}.py"
            dumped["weights"] = {c.name: item.case_weight(c.name) for c in item.cases} | item.weights
    dest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def make_handout(assignment: Assignment, dest: Path) -> Path:
    stale = out_of_sync(assignment)
    if stale:
        raise GraderError(f"skeleton is out of date ({stale[0]}); run `grader build` first", assignment.skeleton_dir)
    if dest.exists() and any(dest.iterdir()):
        raise GraderError("folder exists and is not empty", dest)
    shutil.copytree(assignment.skeleton_dir, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _write_public_rubric(assignment, dest / "rubric.yaml")
    (dest / "DATA.md").write_text(_data_instructions(assignment), encoding="utf-8")
    readme = dest / "README.md"
    existing = readme.read_text(encoding="utf-8") if readme.is_file() else f"# {assignment.spec.title}\n"
    readme.write_text(existing.rstrip("\n") + "\n" + STUDENT_SECTION.format(assignment=assignment.id), encoding="utf-8")
    _write_tool(assignment, dest / "grader-tool")
    return dest


def run(session: Session, assignment_id: str, dest: Path) -> None:
    """`grader handout`: write the handout folder and say where."""
    session.console.print(f"handout written to {make_handout(session.load(assignment_id), dest)}")
