"""Finds assignments on disk: a course root holds assignments/, rubrics/, solutions/ and skeleton/."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from grader.course.spec import AssignmentSpec, Rubric, TestsItem, load_model
from grader.errors import GraderError, SpecError

ROOT_ENV = "GRADER_ROOT"
# A handout's tool carries its one assignment as a package of its own (distribution
# grader-course-<id>, package grader_course_<id>), registered under this entry-point group: several
# handouts' courses installed into one environment sit side by side, each a course root of one assignment.
COURSE_ENTRY_POINTS = "grader.courses"
# Files `grader handout` writes beside the skeleton, and files run.sh writes that no rubric item
# reads (an ungraded ERM run's log): the handout's own, never warned about.
HANDOUT_FILES = ("DATA.md", "rubric.yaml")
RUN_SH_LOG = re.compile(r"(?<![\w./$-])[\w.-]+_log\.txt\b")


def installed_courses() -> dict[str, Path]:
    """Assignment ID -> course root, for every handout course installed beside this package."""
    found: dict[str, Path] = {}
    for entry in importlib.metadata.entry_points(group=COURSE_ENTRY_POINTS):
        try:
            spec = importlib.util.find_spec(entry.value)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            root = Path(location).resolve()
            if (root / "assignments" / entry.name / "assignment.yaml").is_file():
                found.setdefault(entry.name, root)
    return found


# path -> (resolved, when): a grading worker asks for the course root several times a submission,
# and resolving walks every folder on the way; a link re-pointed to a new course build is followed
# within this long (as the worker's course listing, grader/batch/dask_worker.py).
_RESOLVED: dict[str, tuple[Path, float]] = {}
RESOLVE_FRESH_S = 1.0


def resolved(path: str | Path) -> Path:
    """Path(path).resolve(), taken again at most every RESOLVE_FRESH_S seconds."""
    key = str(path)
    known = _RESOLVED.get(key)
    now = time.monotonic()
    if known is not None and now - known[1] < RESOLVE_FRESH_S:
        return known[0]
    result = Path(key).resolve()
    _RESOLVED[key] = (result, now)
    return result


def default_root() -> Path:
    """The course root: $GRADER_ROOT, else the repository this package runs from, else the
    courses that handouts' tools installed (the first; catalog lookups see all of them)."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return resolved(env)
    repository = Path(__file__).resolve().parents[2]
    if (repository / "assignments").is_dir() and (repository / "rubrics").is_dir():
        return repository
    installed = installed_courses()
    return installed[min(installed)] if installed else repository


def course_roots(root: Path) -> list[Path]:
    """Where to look for assignments: `root`, and when it is one installed handout course, every installed one."""
    installed = installed_courses()
    if root.resolve() in installed.values():
        return [installed[i] for i in sorted(installed)]
    return [root]


@dataclass(frozen=True)
class Assignment:
    id: str
    root: Path
    spec: AssignmentSpec
    rubric: Rubric

    @property
    def folder(self) -> Path:
        return self.root / "assignments" / self.id

    @property
    def solution_dir(self) -> Path:
        return self.root / "solutions" / self.id

    @property
    def skeleton_dir(self) -> Path:
        return self.root / "skeleton" / self.id

    @property
    def rubric_path(self) -> Path:
        return self.root / "rubrics" / f"{self.id}.yaml"

    def dataset(self, override: str | None = None) -> str | None:
        if self.spec.dataset is None:
            if override:
                raise GraderError(f"assignment {self.id!r} declares no datasets, cannot use {override!r}")
            return None
        name = override or self.spec.dataset.default
        if name not in self.spec.dataset.choices:
            raise GraderError(f"assignment {self.id!r} has no dataset {name!r} (choices: "
                              f"{', '.join(sorted(self.spec.dataset.choices))})")
        return name

    def runner_files(self) -> list[str]:
        """The hidden-test runner files the rubric uses, each once, in rubric order."""
        files: list[str] = []
        for item in self.rubric.items:
            rel = getattr(item, "runner", None)
            if rel and rel not in files:
                files.append(rel)
        return files

    def runner_sources(self) -> dict[str, str]:
        """What the hidden-test step runs: file name -> Python source of each runner, in rubric
        order. A runner file as it is, with the cases of every tests item that declares them
        appended as one call into the generic runner (grader/inside/declarative.py); an item
        with declared cases and no runner file gets a runner of its own, `<item id>.py`."""
        sources: dict[str, str] = {}
        for rel in self.runner_files():
            sources[Path(rel).name] = (self.folder / rel).read_text(encoding="utf-8")
        for item in self.rubric.items:
            if isinstance(item, TestsItem) and item.cases:
                name = f"{item.stem}.py"
                sources[name] = sources.get(name, f'"""Declared cases of rubric item {item.id} '
                                                  '(written by the grader)."""\n')
                sources[name] += declared_cases_source(item)
        return sources

    def output_files(self) -> set[str]:
        """Files the experiments write; a submission's copies are evidence, never inputs."""
        return {log for e in self.spec.experiments for log in e.logs()}

    def by_products(self) -> set[str]:
        """The handout's own files beside the skeleton, and files its run.sh or the experiments write
        that no rubric item reads (the log of an ungraded run, an executed notebook): not the
        student's work, not worth a warning."""
        run_sh = self.skeleton_dir / "run.sh"
        logs = set(RUN_SH_LOG.findall(run_sh.read_text(encoding="utf-8"))) if run_sh.is_file() else set()
        artifacts = {a for e in self.spec.experiments for a in e.artifacts}
        return (set(HANDOUT_FILES) | logs | artifacts) - self.output_files()


def declared_cases_source(item: TestsItem) -> str:
    """The lines that register an item's declared cases in a runner file: the cases as a Python
    literal (non-finite floats as the names nan and inf)."""
    cases = [c.runner_data() for c in item.cases]
    return ("\n\ndef _declare():\n"
            "    from grader.inside.declarative import register\n\n"
            "    nan, inf = float('nan'), float('inf')  # noqa: F841 - names the literal below may use\n"
            f"    register({cases!r})\n\n\n_declare()\n")


def _declared_case_problems(rubric: Rubric, spec: AssignmentSpec) -> list[str]:
    """Declared cases must call code in the editable files, and each item's key prefix must be its own."""
    problems = []
    runner_stems = {Path(item.runner).stem: item.id for item in rubric.items if getattr(item, "runner", None)}
    for item in rubric.items:
        if not isinstance(item, TestsItem):
            continue
        if item.runner is None and item.stem in runner_stems:
            problems.append(f"item {item.id}: its declared cases would share the prefix {item.stem!r} with the runner "
                            f"file of item {runner_stems[item.stem]}")
        for declared in item.cases:
            if declared.module_file not in spec.editable:
                problems.append(f"item {item.id}: case {declared.name} calls {declared.call}, and "
                                f"{declared.module_file} is not an editable file ({', '.join(spec.editable)})")
    return problems


def list_ids(root: Path | None = None) -> list[str]:
    ids: set[str] = set()
    for course in course_roots(root or default_root()):
        folder = course / "assignments"
        if folder.is_dir():
            ids |= {p.name for p in folder.iterdir() if (p / "assignment.yaml").is_file()}
    return sorted(ids)


def load(assignment_id: str, root: Path | None = None) -> Assignment:
    root = root or default_root()
    roots = course_roots(root)
    root = next((r for r in roots if (r / "assignments" / assignment_id / "assignment.yaml").is_file()), root)
    folder = root / "assignments" / assignment_id
    if not (folder / "assignment.yaml").is_file():
        known = ", ".join(list_ids(root)) or "none"
        raise GraderError(f"unknown assignment {assignment_id!r} (known: {known})", root / "assignments")
    spec = load_model(AssignmentSpec, folder / "assignment.yaml")
    rubric_path = root / "rubrics" / f"{assignment_id}.yaml"
    rubric = load_model(Rubric, rubric_path)
    if rubric.assignment != assignment_id:
        raise SpecError(f"field assignment: says {rubric.assignment!r}, expected {assignment_id!r}", rubric_path)
    for item in rubric.items:
        for field in ("runner", "checker"):
            rel = getattr(item, field, None)
            if rel and not (folder / rel).is_file():
                raise SpecError(f"item {item.id}: {field} file {rel!r} not found in {folder}", rubric_path)
    problems = _declared_case_problems(rubric, spec)
    if problems:
        raise SpecError(problems[0], rubric_path)
    assignment = Assignment(assignment_id, root, spec, rubric)
    for ds in (spec.dataset.choices if spec.dataset else [None]):
        for item in rubric.items:
            try:
                item.max_points(ds)
            except SpecError as exc:
                raise SpecError(str(exc), rubric_path) from None
    return assignment
