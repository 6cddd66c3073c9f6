"""Finds assignments on disk: a course root holds assignments/, rubrics/, solutions/ and skeleton/."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader.course.spec import AssignmentSpec, Rubric, TestsItem, load_model
from grader.errors import GraderError, SpecError

ROOT_ENV = "GRADER_ROOT"
HANDOUT_COURSE = "handout_course"  # where a handout's tool carries its one assignment, inside the grader package


def default_root() -> Path:
    """The course root: $GRADER_ROOT, else the course a handout's tool carries, else the
    repository this package was installed from."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    # A student's tool from a handout carries its one assignment inside the package.
    bundled = Path(__file__).resolve().parents[1] / HANDOUT_COURSE
    if (bundled / "assignments").is_dir():
        return bundled
    return Path(__file__).resolve().parents[2]


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
            raise GraderError(f"assignment {self.id!r} has no dataset {name!r} (choices: {', '.join(sorted(self.spec.dataset.choices))})")
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
                sources[name] = sources.get(name, f'"""Declared cases of rubric item {item.id} (written by the grader)."""\n')
                sources[name] += declared_cases_source(item)
        return sources

    def output_files(self) -> set[str]:
        """Files the experiments write; a submission's copies are evidence, never inputs."""
        return {e.log for e in self.spec.experiments}


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
    root = root or default_root()
    folder = root / "assignments"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "assignment.yaml").is_file())


def load(assignment_id: str, root: Path | None = None) -> Assignment:
    root = root or default_root()
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
