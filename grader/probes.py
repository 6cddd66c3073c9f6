"""Evidence that needs the student's code to run beyond the experiments: hidden unit tests
and parameter counts. Each probe runs in the sandbox and hands back only JSON or JUnit XML,
which the grader reads as data."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from grader.catalog import Assignment
from grader.sandbox.base import RunRequest, RunResult, Runner
from grader.spec import ParamCountItem, SandboxLimits, TestsItem

PROBE_DIR = ".grader"
HIDDEN_DIR = ".hidden_tests"

PARAM_COUNT_SCRIPT = r"""
import importlib.util, json, os, sys
module_path, attr, args, kwargs, trainable_only, out = sys.argv[1:7]
sys.path.insert(0, os.getcwd())  # the module imports its siblings, as in a normal run
spec = importlib.util.spec_from_file_location("probed_module", module_path)
module = importlib.util.module_from_spec(spec)
sys.modules["probed_module"] = module
spec.loader.exec_module(module)
model = getattr(module, attr)(*json.loads(args), **json.loads(kwargs))
params = [p for p in model.parameters() if p.requires_grad or trainable_only != "1"]
with open(out, "w") as f:
    json.dump({"count": int(sum(p.numel() for p in params))}, f)
"""


@dataclass
class CaseOutcome:
    name: str
    passed: bool
    message: str = ""
    module: str = ""  # the test file's stem


@dataclass
class HiddenTestsOutcome:
    cases: list[CaseOutcome] = field(default_factory=list)
    error: str | None = None


@dataclass
class ParamCountOutcome:
    count: int | None
    error: str | None = None


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log, on one line (for messages)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[:300]


def _failure(run: RunResult, log: Path) -> str:
    tail = log_tail(log)
    return f"{run.describe()}" + (f": {tail}" if tail else "")


def count_parameters(item: ParamCountItem, workspace: Path, runner: Runner, limits: SandboxLimits) -> ParamCountOutcome:
    probe_dir = workspace / PROBE_DIR
    probe_dir.mkdir(exist_ok=True)
    script = probe_dir / "param_count.py"
    script.write_text(PARAM_COUNT_SCRIPT)
    out = probe_dir / f"params_{item.id}.json"
    out.unlink(missing_ok=True)
    log = probe_dir / f"params_{item.id}.log"
    argv = [runner.python(), f"{PROBE_DIR}/param_count.py", item.module, item.object, json.dumps(item.args),
            json.dumps(item.kwargs), "1" if item.trainable_only else "0", f"{PROBE_DIR}/{out.name}"]
    run = runner.run(RunRequest(argv=argv, workspace=workspace, log_path=log, limits=limits))
    if not run.ok or not out.is_file():
        return ParamCountOutcome(None, f"could not build {item.object} from {item.module}: {_failure(run, log)}")
    try:
        return ParamCountOutcome(int(json.loads(out.read_text())["count"]))
    except (ValueError, KeyError, TypeError):
        return ParamCountOutcome(None, "the parameter-count probe wrote an unreadable result")


def parse_junit(path: Path) -> list[CaseOutcome]:
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        # classname is "<dir>.<module>[.<Class>]"; a module that failed to import is reported with
        # an empty classname and the module path as its name.
        dotted = case.get("classname") or case.get("name", "")
        parts = [p for p in dotted.split(".") if p]
        module = next((p for p in parts if p.startswith("test")), parts[-1] if parts else "")
        problem = next((c for c in case if c.tag in ("failure", "error")), None)
        skipped = next((c for c in case if c.tag == "skipped"), None)
        if problem is not None:
            lines = (problem.get("message") or problem.text or problem.tag).strip().splitlines()
            message = lines[0] if lines else problem.tag
            if problem.tag == "error":  # e.g. "collection failure": the cause is in the traceback's E lines
                cause = [ln[1:].strip() for ln in (problem.text or "").splitlines() if ln.startswith("E ")]
                message = f"{message}: {cause[-1]}" if cause else message
            cases.append(CaseOutcome(case.get("name", "?"), False, message[:500], module))
        elif skipped is not None:
            cases.append(CaseOutcome(case.get("name", "?"), False, "skipped: " + (skipped.get("message") or "")[:200], module))
        else:
            cases.append(CaseOutcome(case.get("name", "?"), True, module=module))
    return cases


def run_hidden_tests(items: list[TestsItem], assignment: Assignment, workspace: Path, runner: Runner,
                     limits: SandboxLimits) -> dict[str, HiddenTestsOutcome]:
    """All hidden test files in one pytest run (one interpreter start, one torch import);
    each item gets the cases of its own file."""
    if not items:
        return {}
    tests_dir = workspace / HIDDEN_DIR
    tests_dir.mkdir(exist_ok=True)
    for item in items:
        shutil.copyfile(assignment.folder / item.file, tests_dir / Path(item.file).name)
    probe_dir = workspace / PROBE_DIR
    probe_dir.mkdir(exist_ok=True)
    junit = probe_dir / "junit.xml"
    junit.unlink(missing_ok=True)
    log = probe_dir / "hidden_tests.log"
    argv = [runner.python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", ".",
            f"--junitxml={PROBE_DIR}/{junit.name}", HIDDEN_DIR]
    try:
        run = runner.run(RunRequest(argv=argv, workspace=workspace, log_path=log, limits=limits))
    finally:
        shutil.rmtree(tests_dir, ignore_errors=True)  # hidden tests never outlive their step
    if not junit.is_file():
        failure = HiddenTestsOutcome(error=f"hidden tests did not run: {_failure(run, log)}")
        return {item.id: failure for item in items}
    try:
        cases = parse_junit(junit)
    except ET.ParseError as exc:
        failure = HiddenTestsOutcome(error=f"hidden test results unreadable: {exc}")
        return {item.id: failure for item in items}
    outcomes = {}
    for item in items:
        module = Path(item.file).stem
        mine = [c for c in cases if c.module == module]
        error = f"hidden tests {run.describe()}" if run.timed_out else None
        if not mine:
            error = f"no hidden test of {Path(item.file).name} ran: {log_tail(log)}"
        outcomes[item.id] = HiddenTestsOutcome(cases=mine, error=error)
    return outcomes
