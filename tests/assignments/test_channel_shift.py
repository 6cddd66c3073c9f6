"""The spurious-channel assignment: the data's construction and its evaluation (hidden tests and
validation of every shipped assignment: tests/assignments/test_shipped_assignments.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from grader.course import catalog

from conftest import solution_module

ASSIGNMENT = catalog.load("channel_shift")
SOLUTION = ASSIGNMENT.solution_dir


@pytest.fixture(scope="module")
def channel_data():
    with solution_module(ASSIGNMENT, "data") as module:
        yield module


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
    assert all(np.array_equal(a, b) for a, b in zip(splits["test"], again["test"])), \
        "the same seed must give the same data"


def test_inputs_put_the_digit_in_its_channel_only(channel_data):
    x = channel_data.to_inputs(np.full((2, 28, 28), 255, dtype=np.uint8), np.array([3, 7]))
    assert tuple(x.shape) == (2, 10, 28, 28)
    assert x[0, 3].min() == 1 and x[1, 7].min() == 1 and x.sum() == 2 * 28 * 28


def test_evaluation_never_imports_the_student_file():
    code = "import sys; sys.path.insert(0, '.'); import evaluate; print('groups' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=SOLUTION, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_missing_weights_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(SOLUTION / "evaluate.py"), "--seed", "1",
                             "--weights", str(tmp_path / "w.npz")],
                            cwd=SOLUTION, capture_output=True, text=True)
    assert result.returncode != 0 and "not found" in result.stderr and "Traceback" not in result.stderr
