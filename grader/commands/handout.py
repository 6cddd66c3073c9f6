"""`grader handout`: the folder a course posts: skeleton code, run.sh, the README, the public
rubric, data instructions, and `grader-tool/`, the student's own `grader` (check and package) that
installs with one pip command from the handout (`INSTALL`). Never the solutions or the hidden tests:
the tool carries the grader's code and, as a distribution of its own, the assignment's settings
and the handout as given, nothing else of the course repository."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import yaml

from grader import __version__
from grader.commands.build import out_of_sync
from grader.commands.session import Session
from grader.course.catalog import COURSE_ENTRY_POINTS, HANDOUT_FILES, Assignment
from grader.course.spec import TestsItem
from grader.errors import GraderError
from grader.sandbox.image import CPU_TORCH_INDEX, TORCH_PINS

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the grader package
HIDDEN_PLACEHOLDER = "# The hidden tests are not in the handout: they run only when the course staff grade.\n"

TOOL_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "grader"
version = "{version}"
description = "The student side of the course's autograder: grader check and grader package"
requires-python = ">=3.11"
dependencies = {dependencies}

[project.scripts]
grader = "grader.cli:main"

[tool.setuptools.packages.find]
include = ["grader*"]

[tool.setuptools.package-data]
grader = ["reports/templates/*", "reports/schemas/*", "commands/*.sh"]
"""

# The assignment's public course data, a distribution of its own: two handouts' tools installed
# into one environment each add their course beside the other's (catalog.installed_courses finds
# them by the entry point); the grader code itself is the same package in every handout.
COURSE_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "grader-course-{dist}"
version = "{version}"
description = "The public settings, rubric and handout files of {assignment} for the course's grader"
requires-python = ">=3.11"
dependencies = {dependencies}

[project.entry-points."{group}"]
{assignment} = "{package}"

[tool.setuptools]
packages = ["{package}"]
include-package-data = false

[tool.setuptools.package-data]
{package} = ["**/*"]
"""

INSTALL = "pip install -r requirements.txt ./grader-tool/grader ./grader-tool/course"
# Optional, before INSTALL: torch's CPU wheels from PyTorch's own index (no CUDA libraries); INSTALL then keeps
# them (2.14.1+cpu satisfies ==2.14.1). A command of its own, not an --extra-index-url line in requirements.txt:
# pip asks every index for every package, and where PyTorch's is unreachable it retries it for each one
# (docs/benchmarks.md: minutes); --retries 0 and --timeout 10 make this one fail in seconds there.
CPU_TORCH_INSTALL = (f"pip install --timeout 10 --retries 0 --index-url {CPU_TORCH_INDEX} "
                     + " ".join(TORCH_PINS))
CPU_TORCH_NOTE = f"""Optional, on Linux: torch's CPU-only build, without CUDA's libraries (gigabytes less to download);
your code and the grading run on the CPU either way. Run this before the line above; where PyTorch's
index is not reachable it fails within seconds, and the line above takes torch from PyPI:

    {CPU_TORCH_INSTALL}
"""
# Tools a handout's README may send the student to, beyond requirements.txt and the grader's own
# dependencies: the course data's distribution depends on them (a README that names Jupyter gets it).
README_TOOLS = {"jupyter": "notebook==7.6.5"}

STEPS_SECTION = """
## 1. Install (once)

    {install}

{cpu_torch}
`requirements.txt` holds the libraries the grader's sandbox has; `grader-tool/` is the course's grader
for this assignment (the scoring code the course staff use, no solutions or hidden tests).

## 2. Run

    ./run.sh YOUR_STUDENT_ID          # the graded experiments, seeded from your ID; ./run.sh ID EXPERIMENT runs one

{data}## 3. Check

    grader check {assignment} --dir . --student-id YOUR_STUDENT_ID   # your likely score from your logs

`check` marks the hidden tests as skipped: the course staff's re-run of your experiments and
their hidden tests decide the final score.

## 4. Package

    grader package {assignment} --student-id YOUR_STUDENT_ID --name yourname   # the zip you hand in

`package` zips the files the grader reads (your code and logs) and refuses logs made with another
seed than your student ID's.
"""


def _data_instructions(assignment: Assignment) -> str:
    """DATA.md, for an assignment that declares a dataset."""
    lines = [f"# Data for {assignment.spec.title}", "",
             "The experiments read one of these datasets (the graded one is the default):", ""]
    for name, choice in assignment.spec.dataset.choices.items():
        default = " (default, as graded)" if name == assignment.spec.dataset.default else ""
        lines.append(f"- `{name}`{default}: {choice.description}")
    lines += ["",
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


def _tool_dependencies() -> list[str]:
    pyproject = tomllib.loads((PACKAGE_ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    return list(pyproject["project"]["dependencies"])


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{d}"' for d in items) + "]"


def readme_tools(readme: str) -> list[str]:
    """The tools (pinned) a README sends the student to that no requirements file holds."""
    return [pin for word, pin in README_TOOLS.items() if word in readme.lower()]


def course_package(assignment_id: str) -> str:
    return "grader_course_" + re.sub(r"\W", "_", assignment_id)


def _write_tool(assignment: Assignment, handout: Path, tool: Path) -> None:
    """grader-tool/grader: the grader package; grader-tool/course: the one assignment's public
    course data, whose skeleton is the handout as given (README, DATA.md and rubric.yaml included),
    so `grader check` in an untouched handout finds nothing changed and nothing unknown."""
    code = tool / "grader"
    shutil.copytree(PACKAGE_ROOT, code / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (code / "pyproject.toml").write_text(
        TOOL_PYPROJECT.format(version=__version__, dependencies=_toml_list(_tool_dependencies())), encoding="utf-8")
    package = course_package(assignment.id)
    course = tool / "course" / package
    folder = course / "assignments" / assignment.id
    folder.mkdir(parents=True)
    (course / "__init__.py").write_text(f'"""Course data of {assignment.id} for the grader (no code)."""\n',
                                        encoding="utf-8")
    spec = assignment.spec.model_dump(mode="json", exclude={"baselines"})  # baselines are edits of the reference
    (folder / "assignment.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (course / "rubrics").mkdir()
    _write_public_rubric(assignment, course / "rubrics" / f"{assignment.id}.yaml")
    public = yaml.safe_load((course / "rubrics" / f"{assignment.id}.yaml").read_text(encoding="utf-8"))
    for item in public["items"]:
        for rel in filter(None, (item.get("runner"), item.get("checker"))):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(HIDDEN_PLACEHOLDER, encoding="utf-8")
    shutil.copytree(handout, course / "skeleton" / assignment.id,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", tool.name))
    extra = readme_tools((handout / "README.md").read_text(encoding="utf-8"))
    (tool / "course" / "pyproject.toml").write_text(COURSE_PYPROJECT.format(
        dist=assignment.id.replace("_", "-"), version=__version__, assignment=assignment.id, package=package,
        group=COURSE_ENTRY_POINTS, dependencies=_toml_list(extra)), encoding="utf-8")


def _readme(assignment: Assignment) -> str:
    """The skeleton's README when it already leads the student through the steps (the shipped
    ones do, in order), else the skeleton's README (or a title) followed by the steps."""
    readme = assignment.skeleton_dir / "README.md"
    existing = readme.read_text(encoding="utf-8") if readme.is_file() else f"# {assignment.spec.title}\n"
    if INSTALL in existing:
        return existing
    data = "Data: see DATA.md.\n\n" if assignment.spec.dataset is not None else ""
    return existing.rstrip("\n") + "\n" + STEPS_SECTION.format(install=INSTALL, cpu_torch=CPU_TORCH_NOTE,
                                                                   assignment=assignment.id, data=data)


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
    shutil.copytree(assignment.skeleton_dir, dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    data_md, rubric_yaml = HANDOUT_FILES
    _write_public_rubric(assignment, dest / rubric_yaml)
    if assignment.spec.dataset is not None:  # an assignment that reads no dataset has no data to get
        (dest / data_md).write_text(_data_instructions(assignment), encoding="utf-8")
    (dest / "README.md").write_text(_readme(assignment), encoding="utf-8")
    _write_tool(assignment, dest, dest / "grader-tool")
    return dest


def run(session: Session, assignment_id: str, dest: Path) -> None:
    """`grader handout`: write the handout folder and say where."""
    session.console.print(f"handout written to {make_handout(session.load(assignment_id), dest)}")
