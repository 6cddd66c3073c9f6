"""Every shipped assignment, from one table. Its hidden tests, run and checked as the grader
does (sandbox in a subprocess, checker against the reference's recorded outputs): the reference passes them all, the untouched skeleton none, each known-wrong baseline
fails exactly the tests that describe its mistake (seconds, no training). And (slow) assignments
validated through the real CLI: reference full marks, skeleton zero, skeleton in sync (each
reference is graded in full once per run; see VALIDATED_HERE); (calibration, run on purpose)
every baseline of every assignment exactly its declared points."""

from __future__ import annotations

import pytest

from grader.commands.examples import _baseline_source
from grader.course import catalog

from conftest import hidden_test_results, run_cli

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
CASES = [(a, b, failing) for a, (_, baselines) in EXPECTED.items() for b, failing in baselines.items()]


def test_every_baseline_is_in_the_table():
    for assignment_id, (_, baselines) in EXPECTED.items():
        assert {b.name for b in catalog.load(assignment_id).spec.baselines} == set(baselines)


@pytest.mark.parametrize("assignment_id", sorted(EXPECTED))
def test_reference_passes_every_hidden_test(tmp_path, assignment_id):
    assignment = catalog.load(assignment_id)
    results = hidden_test_results(assignment, assignment.solution_dir, tmp_path / "work")
    assert len(results) == EXPECTED[assignment_id][0] and all(results.values()), results


@pytest.mark.parametrize("assignment_id", sorted(EXPECTED))
def test_skeleton_fails_every_hidden_test(tmp_path, assignment_id):
    assignment = catalog.load(assignment_id)
    results = hidden_test_results(assignment, assignment.skeleton_dir, tmp_path / "work")
    assert len(results) == EXPECTED[assignment_id][0] and not any(results.values()), results


@pytest.mark.parametrize("assignment_id,baseline_name,failing", CASES, ids=[f"{a}-{b}" for a, b, _ in CASES])
def test_baselines_fail_exactly_the_tests_of_their_mistake(tmp_path, assignment_id, baseline_name, failing):
    assignment = catalog.load(assignment_id)
    baseline = next(b for b in assignment.spec.baselines if b.name == baseline_name)
    results = hidden_test_results(assignment, _baseline_source(assignment, baseline, tmp_path), tmp_path / "work")
    assert {t for t, ok in results.items() if not ok} == (set(results) if failing is None else failing)


# Each reference is graded in full once per run of the suite: colored_mnist's by the student
# journey (handout -> run -> package -> `grader grade`, tests/test_colored_mnist.py), cvae_ood's,
# with a plot cell added, beside its forgeries (tests/test_adversarial_cvae_ood.py); their
# skeletons score 0 through the Gradescope bundle (tests/test_gradescope.py) and stay in sync
# (tests/test_skeleton.py). `validate` itself runs for the other two.
VALIDATED_HERE = ["channel_shift", "cnn_transfer"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", VALIDATED_HERE)
def test_validate_through_the_cli(assignment_id):
    # auto: in containers when the grading image is built (CI builds it), else the local backend
    result = run_cli("validate", assignment_id, "--skip-baselines", "-j", "2", timeout=1500,
                     env={"GRADER_BACKEND": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    for line in ["ok   skeleton in sync", "ok   calibration record", "ok   reference: 20/20", "ok   skeleton: 0/20"]:
        assert f"{assignment_id}: {line}" in result.stdout


@pytest.mark.slow
@pytest.mark.calibration
@pytest.mark.parametrize("assignment_id", sorted(EXPECTED))
def test_every_baseline_keeps_its_declared_points_through_the_cli(assignment_id):
    """Each baseline graded in full (a training run each): run on purpose after a threshold or a
    baseline changes (`./run.sh test -m calibration`), like `grader calibrate`. The hidden tests
    each baseline must fail are checked above in seconds."""
    result = run_cli("validate", assignment_id, "-j", "2", timeout=2400, env={"GRADER_BACKEND": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    for baseline in EXPECTED[assignment_id][1]:
        assert f"{assignment_id}: ok   baseline {baseline}:" in result.stdout
