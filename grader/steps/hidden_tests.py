"""Step 3b, hidden tests: the hidden tests' runner files run in the sandbox against the student's
code and record outputs as data; the same runners against the reference solution give the
expected outputs, cached per course build. Verdicts are the checker's (grader/verdict/checker.py),
made in the grader's own process."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.course.catalog import Assignment
from grader.course.spec import ParamCountItem, SandboxLimits, TestsItem
from grader.errors import GraderError
from grader.safe_fs import copy_file, log_tail, remove_inside, tree_digest
from grader.sandbox.base import RunRequest, Sandbox
from grader.steps.imports import preload_modules
from grader.verdict import checker
from grader.verdict.checker import CaseRecord, HiddenTestsOutcome, scalar
from grader.verdict.evidence import ParamCountOutcome

GRADER_DIR = ".grader"
OUTPUTS = "hidden_test_outputs.json"
CACHE_ENV = "GRADER_CACHE"


@dataclass
class HiddenTestsRun:
    records: dict[str, CaseRecord]
    error: str | None = None  # the step itself failed (killed, crashed before recording, unreadable outputs)


def run_step(assignment: Assignment, workspace: Path, sandbox: Sandbox, limits: SandboxLimits,
             reference: bool = False) -> HiddenTestsRun:
    """Every runner file of the rubric in one sandboxed process (one interpreter, one torch
    import); the runners leave the workspace with the step. `reference`: the workspace holds
    the reference solution, no student's code."""
    runners = assignment.runner_sources()
    if not runners:
        return HiddenTestsRun({})
    grader_dir = workspace / GRADER_DIR
    remove_inside(grader_dir, workspace)  # a link planted at .grader is removed, never followed
    (grader_dir / "hidden_tests").mkdir(parents=True)
    names = []
    for name, source in runners.items():  # course text (trusted), into the folder just made
        (grader_dir / "hidden_tests" / name).write_text(source, encoding="utf-8")
        names.append(f"{GRADER_DIR}/hidden_tests/{name}")
    log = grader_dir / "hidden_tests.log"
    argv = [sandbox.python(), "-m", "grader.inside.runner_kit", f"{GRADER_DIR}/{OUTPUTS}", *names]
    try:
        run = sandbox.run(RunRequest(argv=argv, workspace=workspace, log_path=log, limits=limits,
                                     preload=preload_modules(assignment), course_code_only=reference))
    finally:
        remove_inside(grader_dir / "hidden_tests", workspace)
    try:
        records = checker.load_outputs(grader_dir / OUTPUTS, workspace)
    except FileNotFoundError:
        records = {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return HiddenTestsRun({}, f"the recorded outputs are unreadable ({exc})")
    error = None if run.ok else (f"the hidden-test step stopped: {run.describe()}"
                                 + (f": {t}" if (t := log_tail(log, workspace)) else ""))
    hidden = checker.source_lines(runners.values())
    for record in records.values():  # what student code raised reaches messages: never the runners' text
        if record.error is not None:
            record.error = checker.without_sources(record.error, hidden)
    return HiddenTestsRun(records, checker.without_sources(error, hidden) if error else None)


def certain_records(assignment: Assignment, workspace: Path, broken: dict) -> dict[str, str] | None:
    """What the hidden-test step would record ({"runner::case" or "runner::*": error}) when every
    case certainly dies on one of the `broken` editable files; None when the step has to run.
    Runner files are read by grader.steps.fail_fast; a declared case (grader/inside/declarative.py)
    imports its module file before anything else, so it dies there when that file is broken."""
    from grader.steps.fail_fast import hidden_tests_records

    if not broken:
        return None
    records: dict[str, str] = {}
    for item in assignment.rubric.items:
        for declared in item.cases if isinstance(item, TestsItem) else ():
            if (hit := broken.get(declared.module_file)) is None:
                return None
            records[f"{item.stem}::{declared.name}"] = hit.runner_error
    runners = {Path(rel).name: (assignment.folder / rel).read_bytes() for rel in assignment.runner_files()}
    if runners:
        found = hidden_tests_records(workspace, broken, runners)
        if found is None:
            return None
        records.update(found)
    return records or None


def not_started(assignment: Assignment, workspace: Path, broken: dict) -> HiddenTestsRun | None:
    """The step's records without running it, when every case certainly dies on an editable
    file that does not compile (grader.steps.fail_fast): the runner's own wording, no sandbox."""
    records = certain_records(assignment, workspace, broken)
    if records is None:
        return None
    return HiddenTestsRun({key: CaseRecord(error=error[:500]) for key, error in records.items()})


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "grader"


# The grader's own modules a runner runs in the sandbox: the runner process, declared cases, and
# the notebook runners' import_function_cells. A change to any of them is a new course build.
RUNNER_MODULES = ("runner_kit.py", "declarative.py", "notebook.py")


def _expected_key(assignment: Assignment, sandbox: Sandbox) -> str:
    digest = hashlib.sha256(f"{assignment.id}\0{sandbox.name}\0".encode())
    for module in RUNNER_MODULES:
        digest.update((Path(__file__).parents[1] / "inside" / module).read_bytes())
    for name, source in assignment.runner_sources().items():
        digest.update(name.encode() + b"\0" + source.encode())
    tree_digest(digest, assignment.skeleton_dir)
    for rel in assignment.spec.editable:
        source = assignment.solution_dir / rel
        digest.update(rel.encode() + b"\0" + (source.read_bytes() if source.is_file() else b""))
    return digest.hexdigest()[:16]


def reference_workspace(assignment: Assignment, dest: Path) -> Path:
    """The pristine skeleton with the reference solution's editable files: what a perfect
    submission's workspace holds."""
    shutil.copytree(assignment.skeleton_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for rel in assignment.spec.editable:
        if (assignment.solution_dir / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(assignment.solution_dir / rel, dest / rel)
    return dest


def expected_outputs(assignment: Assignment, sandbox: Sandbox, progress=None) -> dict[str, CaseRecord]:
    """The reference solution's outputs through the same runners, computed once per course
    build (the runners, skeleton and solution's hash) and kept outside every sandbox."""
    if not assignment.runner_sources():
        return {}
    if not assignment.solution_dir.is_dir():
        shipped = shipped_expected_path(assignment)
        if shipped.is_file():  # a bundle without solutions (Gradescope) carries the reference's outputs instead
            return checker.load_outputs(shipped)
        raise GraderError(f"the hidden tests need the reference solution ({assignment.solution_dir} is missing)")
    folder = cache_root() / "expected" / assignment.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_expected_key(assignment, sandbox)}.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs wait for one reference run
        if not path.is_file():
            if progress:
                progress("recording the reference outputs for the hidden tests (once per course build)")
            with tempfile.TemporaryDirectory(prefix="grader-reference-") as tmp:
                ws = reference_workspace(assignment, Path(tmp) / "workspace")
                result = run_step(assignment, ws, sandbox, assignment.spec.limits, reference=True)
                if result.error or not result.records:
                    raise GraderError("the reference solution's hidden-test run failed: "
                                      f"{result.error or 'nothing recorded'}")
                broken = next((key for key, record in result.records.items() if record.error), None)
                if broken:
                    raise GraderError(f"the reference solution fails hidden test {broken}: "
                                      f"{result.records[broken].error}")
                copy_file(ws / GRADER_DIR / OUTPUTS, path.with_suffix(".tmp"), root=ws, cap=checker.OUTPUT_CAP)
                os.replace(path.with_suffix(".tmp"), path)
        return checker.load_outputs(path)


def shipped_expected_path(assignment: Assignment) -> Path:
    return assignment.folder / "expected_outputs.json"


def expected_outputs_file(assignment: Assignment, sandbox: Sandbox) -> Path:
    """The cached file of the reference's outputs (recorded first if need be), to ship in a bundle."""
    expected_outputs(assignment, sandbox)
    return cache_root() / "expected" / assignment.id / f"{_expected_key(assignment, sandbox)}.json"


def check_tests(items: list[TestsItem], assignment: Assignment, tests_run: HiddenTestsRun,
                expected: dict[str, CaseRecord]) -> dict[str, HiddenTestsOutcome]:
    outcomes = {}
    hidden = checker.source_lines(assignment.runner_sources().values())
    for item in items:
        outcome = checker.check_item(item, assignment.folder, tests_run.records, expected, hidden)
        if tests_run.error and not outcome.error:
            outcome.error = tests_run.error
        outcomes[item.id] = outcome
    return outcomes


def param_count_from(item: ParamCountItem, tests_run: HiddenTestsRun) -> ParamCountOutcome:
    record = tests_run.records.get(f"{Path(item.runner).stem}::{item.case}")
    if record is None:
        return ParamCountOutcome(None, f"{item.object} was not built"
                                 + (f" ({tests_run.error})" if tests_run.error else ""))
    if record.error:
        return ParamCountOutcome(None, f"building {item.object} raised {record.error}")
    value = scalar(record.outputs.get(item.output))
    if value != value or value < 0 or value != int(value):
        return ParamCountOutcome(None, f"{item.object}: no parameter count was recorded")
    return ParamCountOutcome(int(value))
