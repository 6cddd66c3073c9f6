"""The spurious-channel assignment: the data's construction, hidden tests against the
reference, the skeleton and the baselines, and (slow) validation through the real CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from grader import catalog
from grader.commands.examples import _baseline_source

from conftest import hidden_test_results, run_cli

ASSIGNMENT = catalog.load("channel_shift")
SOLUTION = ASSIGNMENT.solution_dir


@pytest.fixture(scope="module")
def channel_data():
    sys.path.insert(0, str(SOLUTION))
    try:
        import data
        yield data
    finally:
        sys.path.remove(str(SOLUTION))
        sys.modules.pop("data", None)


def test_channels_follow_labels_in_training_only(channel_data):
    splits = channel_data.generate("fashion_mnist", "/nonexistent", seed=2426)
    images, channels, labels, clean = splits["train"]
    assert len(labels) == 60_000 - 2_100 and images.shape[1:] == (28, 28)
    assert abs((channels == labels).mean() - 0.9) < 0.01
    assert abs((labels != clean).mean() - 0.23) < 0.01
    for name, size in (("val", 100), ("test", 2_000)):
        _, ch, lab, cl = splits[name]
        assert len(lab) == size
        assert np.bincount(ch, minlength=10).min() > 0 and (ch == lab).mean() < 0.2  # uniform channels
    _, ch, _, _ = splits["test"]
    assert abs(np.bincount(ch, minlength=10) / 2_000 - 0.1).max() < 0.03
    again = channel_data.generate("fashion_mnist", "/nonexistent", seed=2426)
    assert all(np.array_equal(a, b) for a, b in zip(splits["test"], again["test"])), "the same seed must give the same data"


def test_inputs_put_the_digit_in_its_channel_only(channel_data):
    x = channel_data.to_inputs(np.full((2, 28, 28), 255, dtype=np.uint8), np.array([3, 7]))
    assert tuple(x.shape) == (2, 10, 28, 28)
    assert x[0, 3].min() == 1 and x[1, 7].min() == 1 and x.sum() == 2 * 28 * 28


def test_reference_passes_every_hidden_test(tmp_path):
    results = hidden_test_results(ASSIGNMENT, SOLUTION, tmp_path / "work")
    assert len(results) == 5 and all(results.values()), results


def test_skeleton_fails_every_hidden_test(tmp_path):
    results = hidden_test_results(ASSIGNMENT, ASSIGNMENT.skeleton_dir, tmp_path / "work")
    assert len(results) == 5 and not any(results.values()), results


@pytest.mark.parametrize("name,failing", [
    # uniform over items is uniform inside each group too, and both keep the q update
    ("plain_in_disguise", {"test_balanced_indices_draw_every_group_equally", "test_worst_group_loss_value_and_weights"}),
    ("balanced_mean_loss", {"test_worst_group_loss_value_and_weights"}),
])
def test_baselines_fail_exactly_the_tests_of_their_mistake(tmp_path, name, failing):
    baseline = next(b for b in ASSIGNMENT.spec.baselines if b.name == name)
    results = hidden_test_results(ASSIGNMENT, _baseline_source(ASSIGNMENT, baseline, tmp_path), tmp_path / "work")
    assert {t for t, ok in results.items() if not ok} == failing


def test_evaluation_never_imports_the_student_file():
    code = "import sys; sys.path.insert(0, '.'); import evaluate; print('groups' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=SOLUTION, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_missing_weights_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(SOLUTION / "evaluate.py"), "--seed", "1", "--weights", str(tmp_path / "w.npz")],
                            cwd=SOLUTION, capture_output=True, text=True)
    assert result.returncode != 0 and "not found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_validate_channel_shift_through_the_cli():
    result = run_cli("validate", "channel_shift", timeout=1500, env={"GRADER_BACKEND": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    for line in ("ok   skeleton in sync", "ok   reference: 20/20", "ok   skeleton: 0/20",
                 "ok   baseline plain_in_disguise", "ok   baseline balanced_mean_loss"):
        assert line in result.stdout
