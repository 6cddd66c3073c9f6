"""Every assignment of the course, as the catalog finds it (a new folder under assignments/ is
covered with no edit here). Its hidden tests, run and checked as the grader does (sandbox in a
subprocess, checker against the reference's recorded outputs): the reference passes them all, the
untouched skeleton none, each known-wrong baseline earns on each tests item exactly the points
assignment.yaml expects of it and, for the assignments in the table below, fails exactly the tests
that describe its mistake (seconds, no training). And (slow) assignments validated through the real
CLI: reference full marks, skeleton zero, skeleton in sync (each reference is graded in full once
per run; see VALIDATED_HERE); (calibration, run on purpose) every baseline of every assignment
exactly its declared points."""

from __future__ import annotations

import pytest

from grader.commands.examples import _baseline_source
from grader.course import catalog

from conftest import hidden_test_outcomes, hidden_test_results, points_of_tests_items, run_cli, shipped_ids

IDS = shipped_ids()
# assignment -> (number of hidden tests, {baseline: the tests it must fail; None: all of them})
EXPECTED = {
    "colored_mnist": (13, {
        "erm_everywhere": None,
        "irm_pooled": {"penalty_is_averaged_per_environment_not_pooled", "lambda_weights_the_penalty"},
        "dro_q_reset": {"q_accumulates_over_steps"},  # from a uniform q, one step is still right
    }),
    "cnn_transfer": (22, {
        "conv1_padding_one": {"layer_output_sizes"},
        "frozen_after_replacing_fc": {"only_the_final_layer_trains", "two_classes"},
        "precision_as_accuracy": {"precision"},
        "no_zero_grad": {"train_epoch_steps_once_per_batch_and_learns"},
    }),
    "channel_shift": (5, {
        # uniform over items is uniform inside each group too, and both keep the q update
        "plain_in_disguise": {"balanced_indices_draw_every_group_equally", "worst_group_loss_value_and_weights"},
        "balanced_mean_loss": {"worst_group_loss_value_and_weights"},
    }),
    "cvae_ood": (8, {
        "class_blind_generator": {"generate_follows_the_requested_class"},
        "auc_inverted": {"auc_takes_ood_as_positive"},
        "generate_raises": {"generate_follows_the_requested_class"},  # and the export cell after it stops the run
    }),
}
CASES = [(a, b.name) for a in IDS for b in catalog.load(a).spec.baselines]


def test_the_table_holds_shipped_assignments_and_all_their_baselines():
    assert set(EXPECTED) <= set(IDS)
    for assignment_id, (_, baselines) in EXPECTED.items():
        assert {b.name for b in catalog.load(assignment_id).spec.baselines} == set(baselines)


def _hidden_tests_of(assignment_id: str) -> int | None:
    """How many hidden tests the table says the assignment has (None: not in the table)."""
    return EXPECTED[assignment_id][0] if assignment_id in EXPECTED else None


@pytest.mark.parametrize("assignment_id", IDS)
def test_reference_passes_every_hidden_test(tmp_path, assignment_id):
    assignment = catalog.load(assignment_id)
    results = hidden_test_results(assignment, assignment.solution_dir, tmp_path / "work")
    assert results and all(results.values()), results
    assert _hidden_tests_of(assignment_id) in (None, len(results))


@pytest.mark.parametrize("assignment_id", IDS)
def test_skeleton_fails_every_hidden_test(tmp_path, assignment_id):
    assignment = catalog.load(assignment_id)
    results = hidden_test_results(assignment, assignment.skeleton_dir, tmp_path / "work")
    assert results and not any(results.values()), results
    assert _hidden_tests_of(assignment_id) in (None, len(results))


@pytest.mark.parametrize("assignment_id,baseline_name", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_baselines_fail_exactly_the_tests_of_their_mistake(tmp_path, assignment_id, baseline_name):
    assignment = catalog.load(assignment_id)
    baseline = next(b for b in assignment.spec.baselines if b.name == baseline_name)
    outcomes = hidden_test_outcomes(assignment, _baseline_source(assignment, baseline, tmp_path), tmp_path / "work")
    points = points_of_tests_items(assignment, outcomes)
    # assignment.yaml's own expectations: the points of each tests item it names (0 everywhere for expect_score 0)
    declared = {i: p for i, p in baseline.expect_items.items() if i in points}
    if baseline.expect_score == 0:
        declared = dict.fromkeys(points, 0.0)
    assert {i: points[i] for i in declared} == declared
    if assignment_id in EXPECTED:
        failing = EXPECTED[assignment_id][1][baseline_name]
        results = {c.name: c.passed for outcome in outcomes.values() for c in outcome.cases}
        assert {t for t, ok in results.items() if not ok} == (set(results) if failing is None else failing)


# Each reference is graded in full once per run of the suite: colored_mnist's by the student
# journey (handout -> run -> package -> `grader grade`, tests/assignments/test_colored_mnist.py), cvae_ood's,
# with a plot cell added, beside its forgeries (tests/adversarial/test_adversarial_cvae_ood.py); their
# skeletons score 0 through the Gradescope bundle (tests/commands/test_gradescope.py) and stay in sync
# (tests/course/test_skeleton.py). `validate` itself runs for every other assignment.
GRADED_ELSEWHERE = {"colored_mnist", "cvae_ood"}
VALIDATED_HERE = [a for a in IDS if a not in GRADED_ELSEWHERE]


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", VALIDATED_HERE)
def test_validate_through_the_cli(assignment_id):
    # auto: in containers when the grading image is built (CI builds it), else the local backend
    result = run_cli("validate", assignment_id, "--skip-baselines", "-j", "2", timeout=1500,
                     env={"GRADER_BACKEND": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    assignment = catalog.load(assignment_id)
    full = f"{assignment.rubric.max_score(assignment.dataset()):g}"  # 20 for each of the shipped four
    for line in ["ok   skeleton in sync", "ok   calibration record", f"ok   reference: {full}/{full}",
                 f"ok   skeleton: 0/{full}"]:
        assert f"{assignment_id}: {line}" in result.stdout


@pytest.mark.slow
@pytest.mark.calibration
@pytest.mark.parametrize("assignment_id", IDS)
def test_every_baseline_keeps_its_declared_points_through_the_cli(assignment_id):
    """Each baseline graded in full (a training run each): run on purpose after a threshold or a
    baseline changes (`./run.sh test -m calibration`), like `grader calibrate`. The hidden tests
    each baseline must fail are checked above in seconds."""
    result = run_cli("validate", assignment_id, "-j", "2", timeout=2400, env={"GRADER_BACKEND": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    for baseline in catalog.load(assignment_id).spec.baselines:
        assert f"{assignment_id}: ok   baseline {baseline.name}:" in result.stdout
