"""Submissions that try to raise their cnn_transfer score without doing the work (issue 13),
graded through the real pipeline: each scores 0 on every item it attacks, and the honest
reference, graded the same way, gets those items' points. The submissions and what each tries
are in tests/adversarial/cnn_transfer/submissions.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from grader.course import catalog, spec
from grader.sandbox import LocalSandbox, make_sandbox
from grader.steps import hidden_tests
from grader.steps.intake import open_submission
from grader.steps.pipeline import grade_submission, holdout_dir
from grader.steps.workspace import prepare_workspace

from conftest import grading_backend

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("cnn_adversarial", HERE / "cnn_transfer" / "submissions.py")
submissions = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = submissions  # dataclasses look their module up there
_spec.loader.exec_module(submissions)

ASSIGNMENT = catalog.load("cnn_transfer")
BACKENDS = [grading_backend()]
# One core per grading, as `grade -j 2` gives on two: two torch threads on a busy machine spend
# most of their time waiting for each other.
ONE_CORE = dataclasses.replace(ASSIGNMENT, spec=ASSIGNMENT.spec.model_copy(
    update={"limits": ASSIGNMENT.spec.limits.model_copy(update={"cpus": 1.0})}))

pytestmark = pytest.mark.slow  # each grading trains or exports with torch

try:
    holdout_dir(ASSIGNMENT, "fashion_mnist")
except Exception as exc:  # noqa: BLE001 - a machine without Fashion-MNIST's test split cannot score the CNN
    pytest.skip(f"held-out data missing: {exc}", allow_module_level=True)


def _sandbox(backend: str):
    if backend == "local":
        return LocalSandbox()
    return make_sandbox("docker")


_graded: dict[tuple[str, str], dict] = {}


def graded(name: str, backend: str, tmp_factory) -> dict:
    """report.json of one grading (reference or an attack), graded once per session and backend."""
    if (name, backend) not in _graded:
        work = tmp_factory.mktemp(f"{name}-{backend}")
        if name == "reference":
            source = work / f"{submissions.STUDENT_ID}_reference"
            source.mkdir()
            for rel in ASSIGNMENT.spec.editable:
                shutil.copyfile(ASSIGNMENT.solution_dir / rel, source / rel)
        else:
            source = submissions.build(submissions.ATTACKS[name], ASSIGNMENT, work / "in")
        report = grade_submission(source, ONE_CORE, _sandbox(backend), work / "out", dataset="fashion_mnist")
        data = json.loads((work / "out" / report.stem / "report.json").read_text())
        data["folder"] = str(work / "out" / report.stem)
        _graded[(name, backend)] = data
    return _graded[(name, backend)]


def items(report: dict) -> dict[str, dict]:
    return {item["id"]: item for item in report["items"]}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attack", sorted(submissions.ATTACKS))
def test_attack_scores_zero_on_what_it_attacks(attack, backend, tmp_path_factory):
    report = graded(attack, backend, tmp_path_factory)
    assert report["status"] == "graded", report.get("message")
    got = items(report)
    for item_id in submissions.ATTACKS[attack].attacked:
        assert got[item_id]["points"] == 0, (item_id, got[item_id]["message"])
    honest = items(graded("reference", backend, tmp_path_factory))
    for item_id in submissions.ATTACKS[attack].attacked:  # the same items are worth points when earned
        assert honest[item_id]["points"] == honest[item_id]["max_points"] > 0, (item_id, honest[item_id]["message"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rewritten_validation_folder_would_have_scored_high(backend, tmp_path_factory):
    """The attack works on the folder it rewrote (its own log says so); the scored number comes
    from held-out images it never saw, and the network answers 'coat' for all of them."""
    report = graded("rewrites_validation_folder", backend, tmp_path_factory)
    own_log = (Path(report["folder"]) / "logs" / "cnn_train_log.txt").read_text()
    assert "'val_accuracy': 0.9" in own_log, own_log[-500:]
    accuracy = items(report)["cnn_accuracy"]
    assert accuracy["value"] == pytest.approx(0.2) and "grader" in accuracy["computed_by"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_forged_parameter_count_is_the_exported_one(backend, tmp_path_factory):
    item = items(graded("param_count_forgery", backend, tmp_path_factory))["cnn_parameters"]
    assert item["value"] == 286821, item["message"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_planted_and_shipped_code_never_reaches_the_scored_summary(backend, tmp_path_factory):
    for attack in ("plants_code_between_steps", "ships_protected_files"):
        got = items(graded(attack, backend, tmp_path_factory))
        assert got["cnn_parameters"]["value"] == 15365, got["cnn_parameters"]["message"]  # the one-layer network
        assert got["cnn_accuracy"]["value"] < 0.45, got["cnn_accuracy"]["message"]


def test_exit_handler_did_forge_the_recorded_results(tmp_path):
    """The forgery runs and rewrites what the hidden-test step recorded; the checker, holding the
    reference's outputs, still fails every case (local backend: the grader's probe step itself)."""
    source = submissions.build(submissions.ATTACKS["exit_handler_forges_tests"], ASSIGNMENT, tmp_path / "in")
    submission = open_submission(source, tmp_path / "submitted", ASSIGNMENT.spec.intake, submissions.STUDENT_ID)
    ws = prepare_workspace(ASSIGNMENT, submission, tmp_path / "ws")
    sandbox = LocalSandbox()
    expected = hidden_tests.expected_outputs(ASSIGNMENT, sandbox)
    probe = hidden_tests.run_step(ASSIGNMENT, ws.path, sandbox, ASSIGNMENT.spec.limits)
    forged = [key for key, record in probe.records.items() if record.outputs and record.outputs.get("passed") is True]
    assert len(forged) >= 22, probe.records  # every case now claims to have passed
    outcomes = hidden_tests.check_tests([i for i in ASSIGNMENT.rubric.items if isinstance(i, spec.TestsItem)],
                                        ASSIGNMENT, probe, expected)
    assert not any(case.passed for outcome in outcomes.values() for case in outcome.cases)
    count_item = next(i for i in ASSIGNMENT.rubric.items if isinstance(i, spec.ParamCountItem) and i.runner)
    assert hidden_tests.param_count_from(count_item, probe).count is None
