"""The grading pipeline, one submission at a time:
intake -> workspace -> sandbox run -> parse -> score -> report.

Each step is its own module; this one only joins them and turns any failure of a single
submission into a report with a status, so a batch always goes on."""

from __future__ import annotations

import os
import shlex
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.course.catalog import Assignment, default_root, resolved
from grader.course.secret import secret_seed
from grader.course.spec import (
    SCORES_PLACEHOLDER,
    TRUSTED_PLACEHOLDERS,
    Experiment,
    MetricItem,
    ParamCountItem,
    SeedRule,
    TestsItem,
)
from grader.errors import GraderError, RejectedSubmission
from grader.reports.report import NOT_NEEDED, Report, RunRecord, write_report
from grader.safe_fs import copy_file, is_regular, log_tail, open_new, read_tail, remove_tree
from grader.sandbox import RunRequest, Sandbox
from grader.sandbox.base import CANCELLED, LIMIT_MEMORY, Budget, GuardedSandbox, RunResult, StepRecord
from grader.steps import hidden_tests
from grader.steps.assets import ensure_assets
from grader.steps.diagnose import crash_site, root_cause, scrub
from grader.steps.fail_fast import Broken, notebook_reaches, same_python, step_reaches
from grader.steps.imports import local_modules, preload_modules, unsatisfied_imports
from grader.steps.intake import Submission, open_submission, student_folder_files
from grader.steps.lms import Identity, SubmissionOrigin, file_time
from grader.steps.naming import parse_stem, report_folder, submission_stem
from grader.steps.report_files import ReportFiles
from grader.steps.workspace import (
    Workspace,
    copy_skeleton,
    discard,
    empty_trash_now_and_then,
    prepare_workspace,
    restore_protected,
)
from grader.verdict.evidence import Evidence
from grader.verdict.parse import Summary, parse_log
from grader.verdict.score import score

DATA_ENV = "GRADER_DATA"


def data_root() -> Path:
    """Where prepared datasets live; mounted read-only into sandboxes."""
    return resolved(os.environ.get(DATA_ENV) or default_root() / "data")


def seed_for(student_id: str, rule: SeedRule) -> int:
    digits = "".join(ch for ch in student_id if ch.isdigit())
    if not digits:
        raise GraderError(f"student ID {student_id!r} has no digits to take the seed from")
    return int(digits[-rule.digits:])


@dataclass(frozen=True)
class RunContext:
    """What the placeholders in an assignment's commands stand for. The secret seed and the
    held-out data reach trusted steps only (the spec refuses them elsewhere)."""

    seed: int
    dataset: str | None
    data_dir: Path
    python: str
    assets: Path | None = None
    secret_seed: int | None = None
    holdout_dir: Path | None = None
    trusted_assets: Path | None = None

    def substitute(self, template: str, trusted: bool = False) -> str:
        secrets = dict(secret_seed=self.secret_seed if self.secret_seed is not None else "",
                       holdout_dir=self.holdout_dir or "", trusted_assets=self.trusted_assets or "") if trusted else {}
        return template.format(seed=self.seed, dataset=self.dataset or "", data_dir=self.data_dir, python=self.python,
                               assets=self.assets or "", **secrets)

    def argv(self, command: str, trusted: bool = False, scores: list[str] | None = None) -> list[str]:
        """The command's words with the placeholders filled; {scores} (a word of its own) becomes
        the `scores` given, or stays as written when none are (the report's view)."""
        argv: list[str] = []
        for part in shlex.split(command):
            if part == SCORES_PLACEHOLDER:
                argv += [part] if scores is None else scores
            else:
                argv.append(self.substitute(part, trusted))
        return argv

    def shown(self, command: str) -> list[str]:
        """The command as the report shows it: secrets stay placeholders."""
        masked = command
        for placeholder in TRUSTED_PLACEHOLDERS:
            masked = masked.replace(placeholder, "{" + placeholder + "}")
        return self.argv(masked)


def holdout_dir(assignment: Assignment, dataset: str | None) -> Path | None:
    choice = assignment.spec.dataset.choices.get(dataset) if assignment.spec.dataset and dataset else None
    if choice is None or choice.holdout_dir is None:
        return None
    folder = Path(choice.holdout_dir.format(data_dir=data_root()))
    if not folder.is_dir():
        raise GraderError(f"the held-out evaluation data of dataset {dataset!r} is missing on this machine ({folder})")
    return folder


def dataset_env(assignment: Assignment, ctx: RunContext) -> dict[str, str]:
    env = {"GRADER_SEED": str(ctx.seed)}
    if assignment.spec.dataset and ctx.dataset:
        env.update({k: ctx.substitute(v) for k, v in assignment.spec.dataset.choices[ctx.dataset].env.items()})
    return env


TRUSTED_INPUT_BYTES = 1_000_000_000  # all the data files one trusted step takes, together


def _trusted_inputs(patterns: list[str], ws: Workspace) -> tuple[list[str], list[str]]:
    """The data files a trusted step takes from the student's workspace: regular files inside
    the workspace only, reached without a link on the way (safe_fs: never a link, FIFO or
    device); and the patterns nothing matched."""
    found: list[str] = []
    missing: list[str] = []
    for pattern in patterns:
        matched = [path.relative_to(ws.path).as_posix() for path in sorted(ws.path.glob(pattern))
                   if is_regular(path, ws.path)]
        found += matched
        if not matched:
            missing.append(pattern)
    return found, missing


def _not_produced(missing: list[str]) -> str:
    return f"its input {', '.join(missing)} was not produced by an earlier step"


def _failed_need(needs: list[str], outcomes: dict[str, str], skips: dict[str, str]) -> tuple[str | None, str]:
    """The first of `needs` that failed, and why what needs it is skipped ("skipped: ...": the
    root cause when that one was itself skipped); (None, "") when none failed."""
    name = next((n for n in needs if outcomes.get(n)), None)
    return (name, skips.get(name) or f"skipped: {name} failed ({outcomes[name]})") if name else (None, "")


@dataclass
class TrustedRun:
    """What a trusted step left: its result (None: not run, `skipped` says why), where the grader
    keeps each log it wrote (its own, and each score's), and why each score not run was left out."""

    result: RunResult | None
    logs: dict[str, Path]
    skipped: str = ""
    scores_skipped: dict[str, str] = field(default_factory=dict)  # score log -> "skipped: why"


def run_trusted_step(assignment: Assignment, experiment: Experiment, ws: Workspace, sandbox: Sandbox, ctx: RunContext,
                     env: dict[str, str], scratch: Path, outcomes: dict[str, str] | None = None,
                     skips: dict[str, str] | None = None) -> TrustedRun:
    """A step that runs no student code: a fresh copy of the pristine skeleton, the declared
    data files copied in, the held-out data mounted. A step with `scores` scores, in its one
    process, every model whose needs succeeded (`outcomes`: name -> "" or why it failed) and
    whose inputs exist; the others are left out with their reason."""
    keep = scratch / f"log-{experiment.name}"
    keep.mkdir(parents=True, exist_ok=True)
    logs = {experiment.log: keep / Path(experiment.log).name}
    outcomes, skips = outcomes or {}, skips or {}
    scored, left_out, inputs = [], {}, []
    for one in experiment.scores:
        _, why = _failed_need(one.needs, outcomes, skips)
        if not why:
            found, missing = _trusted_inputs(one.inputs, ws)
            why = f"skipped: {_not_produced(missing)}" if missing else ""
        if why:
            left_out[one.log] = why
        else:
            scored.append(one)
            inputs += found
    if experiment.scores and not scored:
        return TrustedRun(None, logs, "no model to score", left_out)
    if not experiment.scores:
        inputs, missing = _trusted_inputs(experiment.inputs, ws)
        if missing:
            return TrustedRun(None, logs, _not_produced(missing))
    if sum(os.lstat(ws.path / rel).st_size for rel in inputs) > TRUSTED_INPUT_BYTES:
        raise GraderError(f"{experiment.name}: its inputs are larger than {TRUSTED_INPUT_BYTES:,} bytes")
    step_ws = scratch / f"trusted-{experiment.name}"
    remove_tree(step_ws)
    copy_skeleton(assignment.skeleton_dir, step_ws)
    for rel in inputs:
        copy_file(ws.path / rel, step_ws / rel, root=ws.path, cap=TRUSTED_INPUT_BYTES)
    data_dirs = (ctx.data_dir,) + tuple(d for d in (ctx.holdout_dir, ctx.trusted_assets) if d)
    argv = ctx.argv(experiment.command, trusted=True, scores=[f"{one.log}={one.model}" for one in scored])
    result = sandbox.run(RunRequest(argv=argv, workspace=step_ws, log_path=step_ws / Path(experiment.log).name,
                                   limits=assignment.spec.limits, env=env, data_dirs=data_dirs,
                                   preload=preload_modules(assignment), course_code_only=True))
    for one in scored:
        logs[one.log] = keep / one.log
    for name, kept in logs.items():
        try:  # the log as the grader keeps it: a regular file only, never through a link, capped
            copy_file(step_ws / Path(name).name, kept, root=step_ws)
        except OSError:
            pass
    remove_tree(step_ws)
    return TrustedRun(result, logs, "", left_out)


def run_experiments(assignment: Assignment, ws: Workspace, sandbox: Sandbox, ctx: RunContext, progress=None,
                    scratch: Path | None = None) -> tuple[list[RunRecord], dict[str, Summary]]:
    records: list[RunRecord] = []
    summaries: dict[str, Summary] = {}
    env = dataset_env(assignment, ctx)
    scratch = scratch or ws.path.parent
    outcomes: dict[str, str] = {}  # experiment name -> "" when it succeeded, else why not
    skips: dict[str, str] = {}  # experiment name -> why it was skipped without a failed input (the root cause)
    ran_in_workspace = False  # prepare_workspace made it: the skeleton and the editable files only
    for index, experiment in enumerate(assignment.spec.experiments):
        argv = ctx.shown(experiment.command)
        failed, why = _failed_need(experiment.needs, outcomes, skips)
        why = why or _out_of_time(sandbox, ws, None if experiment.trusted else argv)
        if why:
            outcomes[experiment.name] = outcomes[failed] if failed else why.removeprefix("skipped: ")
            if not failed:
                skips[experiment.name] = why
                if isinstance(sandbox, GuardedSandbox):
                    sandbox.skipped.append((experiment.name, why))
            summaries[experiment.log] = Summary(None, why)
            records.append(RunRecord(name=experiment.name, command=argv, exit_code=None, outcome="skipped", seconds=0.0,
                                     output_truncated=False, log=f"logs/{experiment.log}", stopped=why))
            continue
        if unneeded := not_needed(assignment, ws, ctx, index, outcomes):
            outcomes[experiment.name] = ""  # not a failure: what needs it does not start for its own reason
            summaries[experiment.log] = Summary(None, unneeded)
            _write_note(ws.path / experiment.log, unneeded)
            ran_in_workspace = True  # a file written there: restored past as any step's
            records.append(RunRecord(name=experiment.name, command=argv, exit_code=None, outcome=NOT_NEEDED,
                                     seconds=0.0, output_truncated=False, log=f"logs/{experiment.log}",
                                     stopped=unneeded))
            continue
        if progress:
            progress(f"running {experiment.name}")
        if ran_in_workspace:  # an earlier run may have rewritten them (a fresh workspace is the skeleton's)
            restore_protected(assignment, ws)
        if experiment.trusted:
            trusted = run_trusted_step(assignment, experiment, ws, sandbox, ctx, env, scratch, outcomes, skips)
            result, log_path = trusted.result, trusted.logs[experiment.log]
            ws.trusted_logs.update(trusted.logs)
            for one in experiment.scores:  # when the step did not run, every score was left out
                if one.log in trusted.scores_skipped:
                    why = trusted.scores_skipped[one.log]
                    summaries[one.log], outcomes[one.name] = Summary(None, why), why.removeprefix("skipped: ")
                else:
                    summaries[one.log], outcomes[one.name] = _score_summary(trusted.logs[one.log], log_path, result)
            if result is None:
                outcomes[experiment.name] = trusted.skipped
                summaries[experiment.log] = Summary(None, f"skipped: {trusted.skipped}")
                records.append(RunRecord(name=experiment.name, command=argv, exit_code=None,
                                         outcome=f"skipped: {trusted.skipped}",
                                         seconds=0.0, output_truncated=False, log="", stopped=""))
                continue
        else:
            # the sandbox replaces whatever is there (a planted link) with a fresh file
            log_path = ws.path / experiment.log
            ran_in_workspace = True
            result = not_started(ws, argv, log_path) or sandbox.run(RunRequest(
                argv=argv, workspace=ws.path, log_path=log_path, limits=assignment.spec.limits, env=env,
                data_dirs=(ctx.data_dir,)))
        log_root = log_path.parent if experiment.trusted else ws.path
        summary = parse_log(log_path, log_root)
        stopped = "" if result.ok else log_tail(log_path, log_root)
        because = f"{result.describe()}" + (f": {stopped}" if stopped else "")
        if not result.ok and summary.ok and not experiment.partial:
            # A Summary printed before a crash or a kill is not a finished run.
            summary = Summary(None, f"the run did not finish ({because})", summary.lines_found, summary.curves)
        elif not result.ok and not summary.ok:
            summary.error = f"the run failed ({because}); {summary.error}"
        summaries[experiment.log] = summary
        if not result.ok:
            outcomes[experiment.name] = crash_site(_tail_text(log_path, log_root)) or because
        else:
            outcomes[experiment.name] = ""
        if not experiment.trusted:
            note_out_of_time(assignment.spec.editable, ws, experiment.name, argv, result)
        records.append(RunRecord(name=experiment.name, command=argv, exit_code=result.exit_code,
                                 outcome="ok" if result.ok else result.describe(), seconds=round(result.seconds, 2),
                                 output_truncated=result.output_truncated, log=f"logs/{experiment.log}",
                                 stopped=stopped,
                                 artifacts=[f"artifacts/{a}" for a in experiment.artifacts
                                            if is_regular(ws.path / a, ws.path)],
                                 attempts=result.attempts, limit=result.limit if result.stopped_by_limit else None,
                                 memory_peak_mb=result.memory_peak_mb))
    return records, summaries


def _score_summary(log_path: Path, step_log: Path, result: RunResult) -> tuple[Summary, str]:
    """One score of a step that scores several: its Summary is final once in its log (the step
    writes it last, after that model's scoring), so a later model's failure or the step's end
    by a limit does not take it back; without one, its log's last line (or, when the step never
    reached it, how the step ended) says why."""
    summary = parse_log(log_path, log_path.parent)
    if summary.ok:
        return summary, ""
    last = _tail_text(log_path, log_path.parent).strip().splitlines()[-1:]
    stopped = log_tail(step_log, step_log.parent) if not result.ok else ""
    why = last[0][:300] if last else result.describe() + (f": {stopped}" if stopped else "")
    summary.error = f"not scored ({why}); {summary.error}"
    return summary, why


def _markers(rels) -> dict[str, Broken]:
    """Editable files as fail_fast's reading looks for them: it says which of them a step's
    command certainly imports before anything else could stop it."""
    return {rel: Broken(rel, rel, None, "", "", "") for rel in rels}


def note_out_of_time(editable: list[str], ws: Workspace, name: str, argv: list[str], result: RunResult) -> None:
    """A step stopped for running out of time (its CPU limit, idle, the ceiling, or the
    submission's budget): the editable files it certainly imports are marked, so the later
    steps certain to import one of them are skipped with this reason, not run into it again."""
    if not result.stopped_by_limit or result.error is not None:
        return
    for rel in editable:
        if rel not in ws.out_of_time and step_reaches(ws.path, _markers([rel]), argv) is not None:
            ws.out_of_time[rel] = f"{name} {result.describe()}"


def _skip_because(rel: str, ws: Workspace) -> str:
    return f"skipped: {ws.out_of_time[rel]}, and this step imports {rel} too"


def _out_of_time(sandbox: Sandbox, ws: Workspace, argv: list[str] | None) -> str:
    """Why a step is skipped before it starts ("skipped: ..."), or "": the submission's budget
    is spent, or (for a step that runs student code, `argv`) it certainly imports a file an
    earlier step ran out of time in (fail_fast's reading: certain, never guessed)."""
    if isinstance(sandbox, GuardedSandbox) and (spent := sandbox.spent()):
        return f"skipped: {spent}"
    if argv is None or not ws.out_of_time:
        return ""
    hit = step_reaches(ws.path, _markers(ws.out_of_time), argv)
    return _skip_because(hit.rel, ws) if hit else ""


def _hidden_tests_out_of_time(assignment: Assignment, sandbox: Sandbox, ws: Workspace) -> str:
    """_out_of_time for the hidden-test step: skipped only when every case of every runner
    certainly imports a file an earlier step ran out of time in."""
    if why := _out_of_time(sandbox, ws, None):
        return why
    for rel in ws.out_of_time:
        if hidden_tests.certain_records(assignment, ws.path, _markers([rel])) is not None:
            return _skip_because(rel, ws)
    return ""


def not_started(ws: Workspace, argv: list[str], log_path: Path) -> RunResult | None:
    """A step certain to die importing a file that does not compile (or a notebook certain to
    stop at a cell that does not compile) is not started: its log holds Python's own words for
    it (and the notebook executor's stop line), so the report says what the run would have said."""
    broken = certain_stop(ws, argv)
    if broken is None:
        return None
    _write_note(log_path, f"not started: {broken.filename} does not compile (checked before the run)\n{broken.text}"
                + (f"{broken.stop}\n" if broken.stop else ""))
    return RunResult(exit_code=None, timed_out=False, seconds=0.0, output_truncated=False,
                     error=f"not started: {broken.filename} does not compile")


def certain_stop(ws: Workspace, argv: list[str]) -> Broken | None:
    """The file (or notebook cell) that does not compile which a step's command certainly dies on."""
    return step_reaches(ws.path, ws.broken, argv) or notebook_reaches(ws.stops, argv)


def _write_note(log_path: Path, note: str) -> None:
    """A step's log when the grader did not start it: why, in one note."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open_new(log_path) as log:
        log.write(f"[grader] {note}".encode() + (b"" if note.endswith("\n") else b"\n"))


def not_needed(assignment: Assignment, ws: Workspace, ctx: RunContext, index: int, outcomes: dict[str, str]) -> str:
    """Why a step is not started although it could run ("not started: ..."), or "": what it makes
    could reach no score, because every later step that needs it, and every other later step and
    the hidden tests too, certainly do not start (fail_fast's reading: each dies importing a file
    that does not compile, or needs a step that does or that failed). Only a step whose log no
    rubric item reads and that keeps no artifacts (a data-preparation step): its report row says
    `not needed`, which is no failure, and the points and the root cause are those of a full run."""
    experiment = assignment.spec.experiments[index]
    if (not (ws.broken or ws.stops) or experiment.trusted or experiment.artifacts
            or any(getattr(item, "log", None) == experiment.log for item in assignment.rubric.items)):
        return ""
    dead: dict[str, str] = {}  # later step -> why it certainly does not start
    dependants = []
    for later in assignment.spec.experiments[index + 1:]:
        # a step that scores several models starts when one of them can: each score's needs count
        failures = [next((name for name in needs if name in dead or outcomes.get(name)), None)
                    for needs in ([one.needs for one in later.scores] or [later.needs])]
        failed = failures[0] if None not in failures else None
        hit = None if later.trusted or failed else certain_stop(ws, ctx.shown(later.command))
        if failed is None and hit is None:
            return ""  # it may start, and read what this step makes
        dead[later.name] = dead.get(failed, f"{failed} failed") if failed else f"{hit.filename} does not compile"
        if experiment.name in later.needs or any(experiment.name in one.needs for one in later.scores):
            dependants.append(later.name)
    if not dependants:
        return ""  # nothing needs it: it runs as it always does
    if _hidden_test_items(assignment) and hidden_tests.certain_records(assignment, ws.path, ws.broken) is None:
        return ""  # the hidden tests run, in the workspace this step writes to
    return f"not started: nothing after it starts ({dependants[0]}: {dead[dependants[0]]})"


def _hidden_test_items(assignment: Assignment) -> list:
    return [item for item in assignment.rubric.items
            if isinstance(item, TestsItem) or (isinstance(item, ParamCountItem) and item.runner)]


def step_count(assignment: Assignment) -> int:
    """The steps one submission's grading runs: its experiments and the hidden-test step."""
    return len(assignment.spec.experiments) + (1 if _hidden_test_items(assignment) else 0)


def run_hidden_tests(assignment: Assignment, ws: Workspace, sandbox: Sandbox, evidence: Evidence, *,
               skip_tests: str | None = None, progress=None) -> None:
    """Hidden tests and tests_run-measured parameter counts: the runners record the student's outputs
    in the sandbox, the checker compares them here with the reference's."""
    items = _hidden_test_items(assignment)
    if not items:
        return
    skip_tests = skip_tests or _hidden_tests_out_of_time(assignment, sandbox, ws)
    if skip_tests:
        evidence.skipped.update({item.id: skip_tests for item in items})
        if isinstance(sandbox, GuardedSandbox):
            sandbox.skipped.append(("hidden tests", skip_tests))
        return
    reference = sandbox.without_budget() if isinstance(sandbox, GuardedSandbox) else sandbox  # not the submission's
    expected = hidden_tests.expected_outputs(assignment, reference, progress=progress)
    restore_protected(assignment, ws)
    tests_run = (hidden_tests.not_started(assignment, ws.path, ws.broken)
                 or hidden_tests.run_step(assignment, ws.path, sandbox, assignment.spec.limits))
    evidence.tests.update(hidden_tests.check_tests([i for i in items if isinstance(i, TestsItem)], assignment,
                                                   tests_run, expected))
    for item in items:
        if isinstance(item, ParamCountItem):
            evidence.params[item.id] = hidden_tests.param_count_from(item, tests_run)


def compare_submitted_logs(assignment: Assignment, ws: Workspace, rerun: dict[str, Summary]) -> list[str]:
    """Flag metrics the student reported that the grader's own run does not reproduce."""
    flags: list[str] = []
    tolerance = assignment.spec.log_tolerance
    compared: set[tuple[str, str]] = set()
    for item in assignment.rubric.items:
        if not isinstance(item, MetricItem) or item.log not in ws.submitted_outputs or (item.log, item.key) in compared:
            continue
        compared.add((item.log, item.key))
        submitted = parse_log(ws.submitted_outputs[item.log], ws.submitted_outputs[item.log].parent)
        ours = rerun.get(item.log)
        if not (submitted.ok and ours and ours.ok) or item.key not in submitted.values or item.key not in ours.values:
            continue
        a, b = submitted.values[item.key], ours.values[item.key]
        if abs(a - b) > tolerance:
            flags.append(f"submitted logs differ from re-run: {item.log} {item.key} submitted {a:.4f}, re-run {b:.4f} "
                         f"(tolerance {tolerance:g})")
    return flags


def _tail_text(log_path: Path, root: Path) -> str:
    """How a failed step's log ends, for its diagnosis (crash_site): read through safe_fs, so a
    log replaced by a link, a FIFO or a device reads as empty, never as the file it points to."""
    try:
        return read_tail(log_path, root)
    except OSError:
        return ""


def _copy_logs(ws: Workspace, assignment: Assignment, files: ReportFiles) -> list[str]:
    """Logs into logs/, and each experiment's artifacts (an executed notebook) into artifacts/:
    regular files only, never through a link, at most safe_fs.COPY_CAP bytes each. A trusted
    step's log comes from where the grader kept it. Returns warnings for what was not copied."""
    problems: list[str] = []
    for experiment in assignment.spec.experiments:
        wanted = [(log, "logs") for log in experiment.logs()] + [(a, "artifacts") for a in experiment.artifacts]
        for name, sub in wanted:
            trusted = sub == "logs" and name in ws.trusted_logs  # kept by the grader, never from the workspace
            src = ws.trusted_logs[name] if trusted else ws.path / name
            try:
                files.copy(f"{sub}/{name}", src, root=src.parent if trusted else ws.path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                problems.append(f"{name} not copied into the report: {exc.strerror or exc}")
    return problems


STEP_NAMES = {"hidden_tests.log": "hidden tests"}


def _step_name(step: StepRecord, assignment: Assignment) -> str:
    by_log = {e.log.rsplit("/", 1)[-1]: e.name for e in assignment.spec.experiments}
    if step.name in by_log:
        return by_log[step.name]
    if step.name.startswith("params_"):
        return f"parameter count {step.name[len('params_'):-len('.log')]}"
    return STEP_NAMES.get(step.name, step.name)


def decide_status(report: Report, steps: list[StepRecord], assignment: Assignment,
                  skipped: list[tuple[str, str]] = ()) -> None:
    """The submission's status from its steps: a sandbox that could not start (or a workspace
    over its limits) is an error; a step stopped by a time limit, or `skipped` (steps not
    started because the submission's time ran out: (name, why)), is a timeout, saying which
    step, which limit and how far it got; else graded."""
    # Running out of memory is the submission's own failure, like a crash: its items say so and
    # it stays graded (the cgroup's OOM count is not always read before the container is gone,
    # so the status must not depend on it).
    failed = [s for s in steps if s.result.error and s.result.limit != LIMIT_MEMORY]
    limited = [s for s in steps if s.result.stopped_by_limit and not s.result.error]
    if failed:
        first = failed[0]
        report.status = "error"
        report.message = f"{_step_name(first, assignment)}: {first.result.error}"
    elif limited or skipped:
        parts = []
        for step in limited:
            run = next((r for r in report.runs if r.log.rsplit("/", 1)[-1] == step.name), None)
            where = f"; last output: {run.stopped}" if run and run.stopped else ""
            parts.append(f"{_step_name(step, assignment)} {step.result.describe()}{where}")
        if skipped:  # the root cause is said once: by the step that ran out of time, or by the budget
            names = ", ".join(name for name, _ in skipped)
            parts.append(f"{names} not started" + ("" if limited else f" ({skipped[0][1].removeprefix('skipped: ')})"))
        report.status = "timeout"
        report.message = "timed out: " + " | ".join(parts)
    else:
        report.status = "graded"


def _name_student_paths(report: Report, tmp: Path) -> None:
    """Messages name the student's files (model.py), never the grader's temporary folders."""
    report.message = scrub(report.message, tmp)
    report.warnings = [scrub(w, tmp) for w in report.warnings]
    for item in report.items:
        item.message = scrub(item.message, tmp)
    for run in report.runs:
        run.stopped = scrub(run.stopped, tmp)


@contextmanager
def timed(report: Report, step: str):
    """Times one step of the pipeline into report.timings[step] (seconds), in one place."""
    started = time.monotonic()
    try:
        yield
    finally:
        report.timings[step] = round(time.monotonic() - started, 3)


def grade_submission(source: Path, assignment: Assignment, sandbox: Sandbox, out: Path, *, dataset: str | None = None,
                     student_id: str | None = None, progress=None, cache_key: str | None = None,
                     identity: Identity | None = None, shown_source: str | None = None,
                     workdir: Path | None = None, files: ReportFiles | None = None) -> Report:
    """Grade one submission and write its report; never raises for a problem of the submission.
    `identity` (from grader.steps.lms) says whose it is when the name is an LMS's, not studentID_name.
    `shown_source`: the path the report names when `source` is a copy (a cluster worker's).
    `workdir`: an empty folder of the caller's for the grading's own files (the unpacked submission,
    the workspace), which the caller removes; else a temporary folder, discarded at the end.
    `files`: where the report's own files (logs, artifacts) go, by default its folder under `out`;
    kept in memory (ReportFiles.in_memory), the report is not written either: the caller sends
    both on (a cluster worker: its client writes report.json and the page)."""
    source = Path(identity.source if identity else source)
    stem = (identity.stem if identity else None) or submission_stem(source)
    dataset = assignment.dataset(dataset)
    report = Report(source=shown_source or str(source), stem=stem, assignment=assignment.id, dataset=dataset,
                    backend=sandbox.name, status="error", max_score=assignment.rubric.max_score(dataset),
                    cache_key=cache_key)
    # Known before intake, so even a rejected archive lands on the right gradebook row.
    report.student_id, report.name = parse_stem(stem) or (None, None)
    report.student_id = student_id or report.student_id
    report.origin = (identity.origin if identity
                     else SubmissionOrigin(file_name=source.name, submitted_at=file_time(source)))
    if identity and not student_id:
        report.student_id, report.name = identity.student_id, identity.name
        student_id = identity.student_id
    started = time.monotonic()
    folder = report_folder(out, stem)
    write = files is None or files.folder is not None
    files = files or ReportFiles(folder)
    tmp = str(workdir) if workdir is not None else tempfile.mkdtemp(prefix="grader-")
    guarded = GuardedSandbox(sandbox, budget=Budget(*assignment.spec.limits.submission_budget(step_count(assignment))))
    try:
        try:
            if identity and identity.error and not student_id:
                raise RejectedSubmission(identity.error, source)
            with timed(report, "intake"):
                submission = open_submission(source, Path(tmp) / "submitted", assignment.spec.intake, student_id,
                                             identity.upload_name if identity else None)
                report.student_id = submission.student_id
                report.name = identity.name if identity and identity.name and not identity.error else submission.name
                report.seed = seed_for(submission.student_id, assignment.spec.seed)

            with timed(report, "workspace"):
                ws = prepare_workspace(assignment, submission, Path(tmp) / "workspace", move=True)
                if not same_python(sandbox.name):  # compiled here for the sandbox's Python
                    ws.broken, ws.stops = {}, {}
                guarded.before_retry = lambda: restore_protected(assignment, ws)
                report.warnings.extend(submission.warnings + ws.warnings)
                report.flags.extend(ws.flags)

            with timed(report, "experiments"):
                ctx = RunContext(report.seed, dataset, data_root(), sandbox.python(),
                                 secret_seed=secret_seed(submission.student_id, assignment.id),
                                 holdout_dir=holdout_dir(assignment, dataset))
                ctx = replace(ctx, assets=ensure_assets(assignment, dataset, ctx.data_dir, sandbox, ctx.substitute,
                                                        progress),
                              trusted_assets=ensure_assets(assignment, dataset, ctx.data_dir, sandbox, ctx.substitute,
                                                           progress, trusted=True, holdout_dir=ctx.holdout_dir))
                report.runs, summaries = run_experiments(assignment, ws, guarded, ctx, progress, scratch=Path(tmp))
                report.warnings.extend(f"{run.name}: {run.stopped}"
                                       for experiment, run in zip(assignment.spec.experiments, report.runs)
                                       if run.stopped and experiment.partial)
                report.warnings.extend(f"{run.name}: stopped by the wall-clock backstop and run once "
                                       "more (a busy machine?)"
                                       for run in report.runs if run.attempts > 1)
            guarded.before_retry = None  # a step's own files (hidden tests, scripts) must stay for its second run

            with timed(report, "hidden_tests"):
                evidence = Evidence(summaries=summaries, present=set(submission.files),
                                    trusted_logs=set(ws.trusted_logs))
                if progress:
                    progress("running checks")
                if not any(step.result.error == CANCELLED for step in guarded.steps):
                    run_hidden_tests(assignment, ws, guarded, evidence, progress=progress)

            result = score(assignment.rubric, dataset, evidence)
            report.items, report.score, report.bonus_points = result.items, result.score, result.bonus_points
            report.flags.extend(item.flag for item in result.items if item.flag)
            report.flags.extend(compare_submitted_logs(assignment, ws, summaries))
            report.curves = {log: s.curves for log, s in summaries.items() if s.curves}
            report.warnings.extend(_copy_logs(ws, assignment, files))
            decide_status(report, guarded.steps, assignment, guarded.skipped)
        except RejectedSubmission as exc:
            report.status, report.message = "rejected", str(exc)
        except GraderError as exc:
            report.status, report.message = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken submission never stops a batch
            report.status, report.message = "crashed", f"internal error: {type(exc).__name__}: {exc}"
            _save_traceback(files)
        _name_student_paths(report, Path(tmp))
    finally:
        if workdir is None:
            discard(Path(tmp))  # through the trash: a stop midway leaves nothing for long (empty_trash)
        empty_trash_now_and_then()
    report.cause = root_cause(report, files)
    report.timings["total"] = round(time.monotonic() - started, 3)
    if not write:
        return report
    try:
        write_report(report, folder)
    except Exception as exc:  # noqa: BLE001 - report writing failing is this submission's status too
        report.status, report.message = "crashed", f"the report could not be written: {type(exc).__name__}: {exc}"
        _save_traceback(files)
        try:
            write_report(report, folder, html=False)
        except Exception:  # noqa: BLE001
            pass
    return report


def _save_traceback(files: ReportFiles) -> None:
    try:
        files.write_text("grader_error.txt", traceback.format_exc())
    except OSError:
        pass


def check_own_logs(assignment: Assignment, folder: Path, sandbox: Sandbox, *, dataset: str | None = None,
                   student_id: str | None = None) -> Report:
    """A student's self-check: score the logs in their folder with the same rubric code.
    Hidden tests are not in the handout, so those items are marked skipped."""
    dataset = assignment.dataset(dataset)
    report = Report(source=str(folder), stem=folder.name, assignment=assignment.id, dataset=dataset,
                    backend=sandbox.name, status="graded", max_score=assignment.rubric.max_score(dataset))
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        submitted = Path(tmp) / "submitted"
        for path in student_folder_files(folder, assignment.spec.intake):  # leaves data and caches out
            copy_file(path, submitted / path.relative_to(folder), root=folder)
        try:
            submission: Submission = open_submission(submitted, Path(tmp) / "checked", assignment.spec.intake,
                                                     student_id or "0")
        except GraderError as exc:  # it names the temporary copy: name the student's folder instead
            raise GraderError(str(exc).removeprefix(f"{exc.path}: "), folder) from None
        report.student_id = student_id
        ws = prepare_workspace(assignment, submission, Path(tmp) / "workspace", move=True)
        report.warnings.extend(ws.warnings)
        report.flags.extend(ws.flags)  # given notebook cells edited: restored as grading restores them
        editable = [ws.path / rel for rel in assignment.spec.editable if (ws.path / rel).is_file()]
        report.warnings.extend(unsatisfied_imports(editable, local_modules(assignment.skeleton_dir)))
        summaries = {log: parse_log(path) for log, path in ws.submitted_outputs.items()}
        for log in assignment.output_files() - set(summaries):
            summaries[log] = Summary(None, f"{log} not found in {folder}: run the experiments first")
        evidence = Evidence(summaries=summaries, present=set(submission.files), own_logs=True)
        run_hidden_tests(assignment, ws, sandbox, evidence, skip_tests="hidden tests run only when the TA grades")
        result = score(assignment.rubric, dataset, evidence)
        report.items, report.score, report.bonus_points = result.items, result.score, result.bonus_points
    return report
