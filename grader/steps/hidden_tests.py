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
from grader.sandbox.base import RunRequest, Sandbox
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


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log, on one line (for messages); a log that is not a regular file reads as empty."""
    try:
        text = checker.read_untrusted_bytes(path, cap=10_000_000).decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[:300]


def run_step(assignment: Assignment, workspace: Path, sandbox: Sandbox, limits: SandboxLimits) -> HiddenTestsRun:
    """Every runner file of the rubric in one sandboxed process (one interpreter, one torch
    import); the runners leave the workspace with the step."""
    runners = assignment.runner_sources()
    if not runners:
        return HiddenTestsRun({})
    grader_dir = workspace / GRADER_DIR
    shutil.rmtree(grader_dir, ignore_errors=True)
    (grader_dir / "hidden_tests").mkdir(parents=True)
    names = []
    for name, source in runners.items():
        (grader_dir / "hidden_tests" / name).write_text(source, encoding="utf-8")
        names.append(f"{GRADER_DIR}/hidden_tests/{name}")
    log = grader_dir / "hidden_tests.log"
    argv = [sandbox.python(), "-m", "grader.inside.runner_kit", f"{GRADER_DIR}/{OUTPUTS}", *names]
    try:
        run = sandbox.run(RunRequest(argv=argv, workspace=workspace, log_path=log, limits=limits))
    finally:
        shutil.rmtree(grader_dir / "hidden_tests", ignore_errors=True)
    try:
        records = checker.load_outputs(grader_dir / OUTPUTS)
    except FileNotFoundError:
        records = {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return HiddenTestsRun({}, f"the recorded outputs are unreadable ({exc})")
    error = None if run.ok else f"the hidden-test step stopped: {run.describe()}" + (f": {t}" if (t := log_tail(log, 1)) else "")
    return HiddenTestsRun(records, error)


def _cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "grader"


def _tree_digest(digest, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())


def _expected_key(assignment: Assignment, sandbox: Sandbox) -> str:
    digest = hashlib.sha256(f"{assignment.id}\0{sandbox.name}\0".encode())
    for module in ("runner_kit.py", "declarative.py"):
        digest.update((Path(__file__).parents[1] / "inside" / module).read_bytes())
    for name, source in assignment.runner_sources().items():
        digest.update(name.encode() + b"\0" + source.encode())
    _tree_digest(digest, assignment.skeleton_dir)
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
    folder = _cache_root() / "expected" / assignment.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_expected_key(assignment, sandbox)}.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs wait for one reference run
        if not path.is_file():
            if progress:
                progress("recording the reference outputs for the hidden tests (once per course build)")
            with tempfile.TemporaryDirectory(prefix="grader-reference-") as tmp:
                ws = reference_workspace(assignment, Path(tmp) / "workspace")
                result = run_step(assignment, ws, sandbox, assignment.spec.limits)
                if result.error or not result.records:
                    raise GraderError(f"the reference solution's hidden-test run failed: {result.error or 'nothing recorded'}")
                broken = next((key for key, record in result.records.items() if record.error), None)
                if broken:
                    raise GraderError(f"the reference solution fails hidden test {broken}: {result.records[broken].error}")
                shutil.copyfile(ws / GRADER_DIR / OUTPUTS, path.with_suffix(".tmp"))
                os.replace(path.with_suffix(".tmp"), path)
        return checker.load_outputs(path)


def shipped_expected_path(assignment: Assignment) -> Path:
    return assignment.folder / "expected_outputs.json"


def expected_outputs_file(assignment: Assignment, sandbox: Sandbox) -> Path:
    """The cached file of the reference's outputs (recorded first if need be), to ship in a bundle."""
    expected_outputs(assignment, sandbox)
    return _cache_root() / "expected" / assignment.id / f"{_expected_key(assignment, sandbox)}.json"


def check_tests(items: list[TestsItem], assignment: Assignment, tests_run: HiddenTestsRun,
                expected: dict[str, CaseRecord]) -> dict[str, HiddenTestsOutcome]:
    outcomes = {}
    for item in items:
        outcome = checker.check_item(item, assignment.folder, tests_run.records, expected)
        if tests_run.error and not outcome.error:
            outcome.error = tests_run.error
        outcomes[item.id] = outcome
    return outcomes


def param_count_from(item: ParamCountItem, tests_run: HiddenTestsRun) -> ParamCountOutcome:
    record = tests_run.records.get(f"{Path(item.runner).stem}::{item.case}")
    if record is None:
        return ParamCountOutcome(None, f"{item.object} was not built" + (f" ({tests_run.error})" if tests_run.error else ""))
    if record.error:
        return ParamCountOutcome(None, f"building {item.object} raised {record.error}")
    value = scalar(record.outputs.get(item.output))
    if value != value or value < 0 or value != int(value):
        return ParamCountOutcome(None, f"{item.object}: no parameter count was recorded")
    return ParamCountOutcome(int(value))
