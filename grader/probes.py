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

PARAM_COUNT_SCRIPT = r"""
import importlib.util, json, sys
module_path, attr, args, kwargs, trainable_only, out = sys.argv[1:7]
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


@dataclass
class HiddenTestsOutcome:
    cases: list[CaseOutcome] = field(default_factory=list)
    error: str | None = None


@dataclass
class ParamCountOutcome:
    count: int | None
    error: str | None = None


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[:300]


def _failure(run: RunResult, log: Path) -> str:
    tail = _tail(log)
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
        problem = next((c for c in case if c.tag in ("failure", "error")), None)
        skipped = next((c for c in case if c.tag == "skipped"), None)
        if problem is not None:
            message = (problem.get("message") or problem.text or problem.tag).strip().splitlines()
            cases.append(CaseOutcome(case.get("name", "?"), False, (message[0] if message else problem.tag)[:500]))
        elif skipped is not None:
            cases.append(CaseOutcome(case.get("name", "?"), False, "skipped: " + (skipped.get("message") or "")[:200]))
        else:
            cases.append(CaseOutcome(case.get("name", "?"), True))
    return cases


def run_hidden_tests(item: TestsItem, assignment: Assignment, workspace: Path, runner: Runner, limits: SandboxLimits) -> HiddenTestsOutcome:
    tests_dir = workspace / ".hidden_tests"
    tests_dir.mkdir(exist_ok=True)
    source = assignment.folder / item.file
    target = tests_dir / source.name
    shutil.copyfile(source, target)
    probe_dir = workspace / PROBE_DIR
    probe_dir.mkdir(exist_ok=True)
    junit = probe_dir / f"junit_{item.id}.xml"
    junit.unlink(missing_ok=True)
    log = probe_dir / f"tests_{item.id}.log"
    argv = [runner.python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", ".",
            f"--junitxml={PROBE_DIR}/{junit.name}", f".hidden_tests/{source.name}"]
    try:
        run = runner.run(RunRequest(argv=argv, workspace=workspace, log_path=log, limits=limits))
    finally:
        shutil.rmtree(tests_dir, ignore_errors=True)  # hidden tests never outlive their step
    if not junit.is_file():
        return HiddenTestsOutcome(error=f"hidden tests did not run: {_failure(run, log)}")
    try:
        cases = parse_junit(junit)
    except ET.ParseError as exc:
        return HiddenTestsOutcome(error=f"hidden test results unreadable: {exc}")
    if run.timed_out:
        return HiddenTestsOutcome(cases=cases, error=f"hidden tests {run.describe()}")
    if not cases:
        return HiddenTestsOutcome(error=f"no hidden test ran: {_tail(log)}")
    return HiddenTestsOutcome(cases=cases)
