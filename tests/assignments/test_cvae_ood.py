"""The conditional-VAE notebook assignment: the data splits, the trusted steps that never import
the notebook (evaluation on held-out images, the generation judge), and what the function tests
say for known mistakes (hidden tests of reference, skeleton and baselines:
tests/assignments/test_shipped_assignments.py; forgeries: tests/adversarial/test_adversarial_cvae_ood.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.course import catalog, spec
from grader.course.skeleton import count_in_source, plain_solution, replace_in_source
from grader.sandbox.local import LocalSandbox
from grader.steps import hidden_tests
from grader.verdict.evidence import Evidence
from grader.verdict.score import score

from conftest import solution_module

ASSIGNMENT = catalog.load("cvae_ood")
SOLUTION = ASSIGNMENT.solution_dir
NOTEBOOK = "cvae_ood.ipynb"


@pytest.fixture(scope="module")
def cvae_data():
    with solution_module(ASSIGNMENT, "cvae_data") as module:
        yield module


def test_splits_have_the_course_sizes(cvae_data):
    data = cvae_data.load_splits(seed=7, data_dir="/nonexistent")
    assert tuple(data["unlabeled"].shape) == (26_000, 1, 32, 32) and len(data["unlabeled"]) == 26_000
    assert len(data["labeled"][1]) == 2_000 and set(data["labeled"][1].tolist()) == set(range(5))
    for name in ("set1", "set2"):
        x, y = data[name]
        assert len(y) == 1_052 and (y == cvae_data.ANOMALY).sum().item() == cvae_data.N_SET_OOD
    some = data["unlabeled"][torch.arange(0, 26_000, 13)]
    assert some.shape == (2_000, 1, 32, 32) and 0 <= some.min() and some.max() <= 1
    assert not torch.equal(data["set1"][0][:5], data["set2"][0][:5])


def test_unlabeled_images_index_like_the_whole_split_as_a_tensor(cvae_data):
    """The unlabeled split stays uint8 and gives floats a batch at a time: the same floats as
    converting the whole split and indexing that (what the notebook's training used to hold)."""
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    images, whole = cvae_data.Images(raw), cvae_data.to_tensor(raw)
    assert len(images) == 40 and images.shape == tuple(whole.shape)
    for idx in (torch.tensor([7, 0, 39, 7]), np.array([3, 1]), slice(5, 12), 17):
        assert torch.equal(images[idx], whole[idx])


@pytest.mark.parametrize("module", ["judge_generation", "evaluate"])
def test_trusted_steps_never_import_the_notebook(module):
    code = (f"import sys; sys.path.insert(0, '.'); import {module}; "
            "print(sorted(m for m in sys.modules if 'notebook' in m))")
    result = subprocess.run([sys.executable, "-c", code], cwd=SOLUTION, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_judge_without_an_export_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(SOLUTION / "judge_generation.py"), "judge", "--judge", "j.npz",
                             "--generator", str(tmp_path)], cwd=SOLUTION, capture_output=True, text=True)
    assert (result.returncode != 0 and "did not export its generator" in result.stderr
            and "Traceback" not in result.stderr)


def test_every_trusted_step_runs_only_given_code_on_exported_data():
    steps = {e.name: e for e in ASSIGNMENT.spec.experiments}
    assert steps["scoring"].trusted and not steps["notebook"].trusted
    # one trusted process scores both exports
    assert [(s.name, s.log) for s in steps["scoring"].scores] == [("evaluation", "ood_eval_log.txt"),
                                                                  ("generation", "generation_log.txt")]
    assert "{holdout_dir}" in steps["scoring"].command and "{secret_seed}" in steps["scoring"].command
    scored_logs = {item.log for item in ASSIGNMENT.rubric.items if getattr(item, "log", None)}
    assert scored_logs == {"ood_eval_log.txt", "generation_log.txt"}  # nothing the notebook prints is scored
    for name in ("evaluate.py", "judge_generation.py", "cvae_data.py", "mnist_family.py"):
        assert (ASSIGNMENT.skeleton_dir / name).read_bytes() == (SOLUTION / name).read_bytes()


# --- evaluate.py on a small exported detector -----------------------------------------

class _MeanBrightness(torch.nn.Module):
    """A stand-in for a notebook's detector: brighter images score as more anomalous; class = 0."""

    def forward(self, x):
        return x.flatten(1).mean(1), torch.zeros(len(x), dtype=torch.int64)


def _export_detector(workspace: Path, threshold: float, scores_set2=None) -> None:
    (workspace / "weights" / "scorer").mkdir(parents=True)
    (workspace / "exports").mkdir()
    program = torch.export.export(_MeanBrightness(), (torch.zeros(64, 1, 32, 32),))
    torch.export.save(program, workspace / "weights" / "scorer" / "scorer.pt2")
    (workspace / "weights" / "scorer" / "scorer.json").write_text('{"batch": 64}')
    s2 = np.zeros(1052) if scores_set2 is None else scores_set2
    np.savez(workspace / "exports" / "results.npz", scores_set1=np.zeros(1052), scores_set2=s2,
             threshold=np.float64(threshold), classes_set2=np.zeros(1052, dtype=np.int64))


def _evaluate(workspace: Path, *extra: str) -> subprocess.CompletedProcess:
    for name in ("evaluate.py", "judge_generation.py", "cvae_data.py", "mnist_family.py"):
        shutil.copyfile(SOLUTION / name, workspace / name)
    return subprocess.run([sys.executable, "evaluate.py", "--results", "exports/results.npz", "--seed", "3", *extra,
                           "detector:weights/scorer"], cwd=workspace, capture_output=True, text=True, timeout=300)


def _summary(stdout: str) -> dict:
    from grader.verdict.parse import parse_summary_line

    return parse_summary_line([ln for ln in stdout.splitlines() if ln.startswith("Summary:")][-1])


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("evaluate")
    _export_detector(workspace, threshold=0.25)
    return _evaluate(workspace, "--holdout", "/usr/share/datasets/fashion-mnist", "--secret_seed", "11")


def test_evaluation_scores_held_out_images_with_the_exported_detector(held_out_run):
    assert held_out_run.returncode == 0, held_out_run.stderr
    values = _summary(held_out_run.stdout)
    assert "held-out images: 4208 (840 OOD)" in held_out_run.stdout
    # class 0 for every image: the share of trousers among the held-out in-distribution images
    assert 0.1 < values["classification_accuracy"] < 0.3
    assert 0 <= values["auc"] <= 1 and 0 <= values["detection_balanced_accuracy"] <= 1
    # set 2's numbers come from the exported scores (all 0, threshold 0.25: nothing flagged)
    assert values["set2_auc"] == 0.5 and values["set2_detection_balanced_accuracy"] == 0.5
    assert "Note: the exported scores of set 2 are not what the exported detector gives" in held_out_run.stdout


def test_the_held_out_draw_follows_the_secret_seed(tmp_path, held_out_run):
    _export_detector(tmp_path, threshold=0.25)
    again = _summary(_evaluate(tmp_path, "--holdout", "/usr/share/datasets/fashion-mnist",
                               "--secret_seed", "11").stdout)
    other = _summary(_evaluate(tmp_path, "--holdout", "/usr/share/datasets/fashion-mnist",
                               "--secret_seed", "12").stdout)
    first = _summary(held_out_run.stdout)
    assert again == first and other["classification_accuracy"] != first["classification_accuracy"]


def test_a_threshold_that_flags_nothing_gets_half_balanced_accuracy(tmp_path):
    # 80% of the images are in distribution: plain accuracy would reward flagging nothing.
    _export_detector(tmp_path, threshold=float("inf"))
    values = _summary(_evaluate(tmp_path).stdout)
    assert values["detection_balanced_accuracy"] == 0.5 and values["detection_accuracy"] == pytest.approx(0.8, abs=0.01)


def test_missing_exports_are_one_line(tmp_path):
    result = _evaluate(tmp_path)
    assert result.returncode != 0 and "exports/results.npz not found: the notebook did not export" in result.stderr
    assert "Traceback" not in result.stderr


# --- the function tests: what a known mistake reads as, and what it costs ----------------------

def _function_tests(tmp_path: Path, edits: list[tuple[str, str]]):
    """The function-tests item for the reference notebook with `edits`, run and checked as the grader does."""
    work = tmp_path / "work"
    shutil.copytree(ASSIGNMENT.skeleton_dir, work)
    text = plain_solution((SOLUTION / NOTEBOOK).read_text(), NOTEBOOK)
    for old, new in edits:
        assert count_in_source(text, NOTEBOOK, old) == 1, old
        text = replace_in_source(text, NOTEBOOK, old, new)
    (work / NOTEBOOK).write_text(text)
    sandbox = LocalSandbox()
    expected = hidden_tests.expected_outputs(ASSIGNMENT, sandbox)
    probe = hidden_tests.run_step(ASSIGNMENT, work, sandbox, ASSIGNMENT.spec.limits)
    items = [i for i in ASSIGNMENT.rubric.items if isinstance(i, spec.TestsItem)]
    outcomes = hidden_tests.check_tests(items, ASSIGNMENT, probe, expected)
    result = score(ASSIGNMENT.rubric, ASSIGNMENT.dataset(None), Evidence(tests=outcomes))
    item = next(r for r in result.items if r.id == items[0].id)
    return {c.name: c.message for c in outcomes[items[0].id].cases if not c.passed}, item


def test_known_mistakes_get_their_hint(tmp_path):
    failed, item = _function_tests(tmp_path, [
        ("best = np.argmin(fpr ** 2 + (1 - tpr) ** 2)", "best = np.argmax(tpr - fpr)"),  # Youden's J
        ("return recon.sum(dim=1) + kl_divergence(mu, logvar)", "return recon.mean(dim=1) + kl_divergence(mu, logvar)"),
        ("roc_auc_score(np.asarray(is_ood).astype(int), np.asarray(scores))",
         "roc_auc_score(1 - np.asarray(is_ood).astype(int), np.asarray(scores))"),
    ])
    assert set(failed) == {"threshold_is_the_roc_point_closest_to_the_corner",
                           "negative_elbo_is_summed_reconstruction_plus_kl", "auc_takes_ood_as_positive"}
    assert ("threshold_where_criteria_disagree: expected 0.5, got 0.7"
            in failed["threshold_is_the_roc_point_closest_to_the_corner"])
    assert "Youden" in failed["threshold_is_the_roc_point_closest_to_the_corner"]
    assert "averaged over pixels" in failed["negative_elbo_is_summed_reconstruction_plus_kl"]
    assert "the classes are swapped" in failed["auc_takes_ood_as_positive"]
    assert item.message.startswith("5/8 tests passed")
    # The weights: the negative ELBO 3, the threshold 2, the rest 1 (of 11).
    assert item.points == pytest.approx(5 * (11 - 3 - 2 - 1) / 11, abs=1e-3)


def test_an_averaged_reconstruction_costs_more_than_one_plain_test(tmp_path):
    failed, item = _function_tests(tmp_path, [
        ("return recon.sum(dim=1) + kl_divergence(mu, logvar)",
         "return recon.mean(dim=1) + kl_divergence(mu, logvar)")])
    assert list(failed) == ["negative_elbo_is_summed_reconstruction_plus_kl"]
    assert item.max_points - item.points > 1.3  # a plain test costs 5/11 = 0.45


def test_hints_only_for_the_value_of_the_mistake_they_name(tmp_path):
    failed, _ = _function_tests(tmp_path, [
        ("return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)",
         "return (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)"),  # KL without its 1/2
        ("return float(roc_auc_score(np.asarray(is_ood).astype(int), np.asarray(scores)))", "return 0.5"),
        ("return float(thresholds[best])", "return float(np.max(scores))"),
    ])
    assert "the factor 1/2 is missing" in failed["kl_divergence_value"]
    assert "the KL term is doubled" in failed["negative_elbo_is_summed_reconstruction_plus_kl"]
    assert failed["auc_takes_ood_as_positive"] == "auc: expected 0.833333, got 0.5"
    assert "Youden" not in failed["threshold_is_the_roc_point_closest_to_the_corner"]
