"""The conditional-VAE notebook assignment: the data splits and the judge that never imports
the notebook (hidden tests and validation: tests/test_shipped_assignments.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from grader import catalog

from conftest import solution_module

ASSIGNMENT = catalog.load("cvae_ood")
SOLUTION = ASSIGNMENT.solution_dir


@pytest.fixture(scope="module")
def cvae_data():
    with solution_module(ASSIGNMENT, "cvae_data") as module:
        yield module


def test_splits_have_the_course_sizes(cvae_data):
    data = cvae_data.load_splits(seed=7, data_dir="/nonexistent")
    assert tuple(data["unlabeled"].shape) == (26_000, 1, 32, 32)
    assert len(data["labeled"][1]) == 2_000 and set(data["labeled"][1].tolist()) == set(range(5))
    for name in ("set1", "set2"):
        x, y = data[name]
        assert len(y) == 1_052 and (y == cvae_data.ANOMALY).sum().item() == cvae_data.N_SET_OOD
    assert 0 <= data["unlabeled"].min() and data["unlabeled"].max() <= 1
    assert not torch.equal(data["set1"][0][:5], data["set2"][0][:5])


def test_judge_never_imports_the_notebook():
    code = "import sys; sys.path.insert(0, '.'); import judge_generation; print(sorted(m for m in sys.modules if 'notebook' in m))"
    result = subprocess.run([sys.executable, "-c", code], cwd=SOLUTION, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_judge_without_an_export_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(SOLUTION / "judge_generation.py"), "judge", "--judge", "j.npz",
                             "--generator", str(tmp_path)], cwd=SOLUTION, capture_output=True, text=True)
    assert result.returncode != 0 and "did not export its generator" in result.stderr and "Traceback" not in result.stderr
