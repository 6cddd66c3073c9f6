"""The CNN and transfer-learning assignment: the offline data builder, the train -> export ->
evaluate path (evaluate.py scores the exported program on held-out images built from
Fashion-MNIST's test split and counts its parameters), checkpoints that never prompt, and the
hidden tests' checkers on recorded outputs (the hidden tests against reference, skeleton and
baselines, and validation of every shipped assignment: tests/assignments/test_shipped_assignments.py;
forgery attempts: tests/adversarial/test_adversarial_cnn_transfer.py)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader.course import catalog
from grader.verdict.checker import CaseRecord, Outputs, check_case, load_checker
from grader.verdict.parse import parse_summary_text

ASSIGNMENT = catalog.load("cnn_transfer")
SOLUTION = ASSIGNMENT.solution_dir
REPO = Path(__file__).resolve().parents[2]
HOLDOUT = Path(ASSIGNMENT.spec.dataset.choices["fashion_mnist"].holdout_dir)


def run_script(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout)


def folder_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.jpg")):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The reference handout with the offline data built once."""
    work = tmp_path_factory.mktemp("cnn") / "handout"
    shutil.copytree(SOLUTION, work, ignore=shutil.ignore_patterns("__pycache__", "data"))
    result = run_script(work, "make_data.py", "--out", "data")
    assert result.returncode == 0, result.stderr
    return work


def test_offline_data_has_the_course_shape(workdir):
    data = workdir / "data"
    counts = {p.relative_to(data).as_posix(): len(list(p.glob("*.jpg"))) for p in data.glob("*/*/*") if p.is_dir()}
    dogs = {k: v for k, v in counts.items() if k.startswith("dogs/")}
    assert len(dogs) == 10 and sum(v for k, v in dogs.items() if "/train/" in k) == 600
    assert sum(v for k, v in dogs.items() if "/valid/" in k) == 200  # 800 images, 75/25
    assert {k: v for k, v in counts.items() if k.startswith("dogcat/")} == {
        "dogcat/train/cat": 200, "dogcat/train/dog": 10, "dogcat/valid/cat": 100, "dogcat/valid/dog": 10}
    with Image.open(next((data / "dogs" / "train").rglob("*.jpg"))) as image:
        assert image.size == (224, 224) and image.mode == "RGB"


def test_offline_data_is_the_same_every_time(workdir, tmp_path):
    shutil.copy(workdir / "make_data.py", tmp_path)
    shutil.copy(workdir / "mnist_family.py", tmp_path)
    assert run_script(tmp_path, "make_data.py", "--out", "again").returncode == 0
    for name in ("dogs", "dogcat"):
        assert folder_digest(tmp_path / "again" / name) == folder_digest(workdir / "data" / name)


def test_course_data_missing_is_a_clear_error(workdir, tmp_path):
    result = run_script(workdir, "make_data.py", "--dataset", "course", "--data_dir", str(tmp_path))
    assert result.returncode != 0 and "course data missing" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def trained(workdir) -> subprocess.CompletedProcess:
    """The reference trained for one epoch and exported to weights/cnn."""
    result = run_script(workdir, "train.py", "--seed", "3", "--epochs", "1", "--export", "weights/cnn")
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_exported_model_scores_what_training_reported(workdir, trained):
    """train.py (student code) exports; evaluate.py (never imports it) scores the same network
    on the same validation folder and counts the exported parameters."""
    evaluated = run_script(workdir, "evaluate.py", "--model", "weights/cnn", "--data", "data/dogs")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    train_summary, eval_summary = parse_summary_text(trained.stdout), parse_summary_text(evaluated.stdout)
    assert eval_summary.values["images"] == 200 and eval_summary.values["heldout"] == 0
    assert abs(eval_summary.values["accuracy"] - train_summary.values["val_accuracy"]) < 1e-9
    assert eval_summary.values["parameters"] == 303397


@pytest.mark.skipif(not (HOLDOUT / "t10k-images-idx3-ubyte.gz").is_file(), reason="no Fashion-MNIST test split here")
def test_held_out_evaluation_scores_test_split_images(workdir, trained):
    result = run_script(workdir, "evaluate.py", "--model", "weights/cnn", "--holdout", str(HOLDOUT))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = parse_summary_text(result.stdout).values
    assert summary["images"] == 1000 and summary["heldout"] == 1 and summary["parameters"] == 303397
    assert 0.2 < summary["accuracy"] <= 1.0  # one epoch already beats chance (0.2)
    again = parse_summary_text(run_script(workdir, "evaluate.py", "--model", "weights/cnn",
                                          "--holdout", str(HOLDOUT)).stdout)
    assert again.values == summary  # the same images every time


@pytest.mark.skipif(not (HOLDOUT / "t10k-images-idx3-ubyte.gz").is_file(), reason="no Fashion-MNIST test split here")
def test_held_out_images_go_through_the_training_images_path(workdir, tmp_path):
    """A held-out image is exactly what ImageFolder gives for the JPEG make_data.py would write
    for that garment and tint: the scored images come from the training distribution."""
    code = f"""
import sys; sys.path.insert(0, '.')
from pathlib import Path
import numpy as np, torch
from torchvision import datasets
import evaluate, make_data
from grader.inside import trusted
images, labels, _ = trusted.held_out(Path({str(HOLDOUT)!r}), 0)
for k in range(3):
    garment = images[k]
    folder = Path({str(tmp_path)!r}) / str(k) / 'a'
    folder.mkdir(parents=True)
    make_data.tinted(garment, np.random.default_rng(k)).save(folder / 'x.jpg', quality=make_data.JPEG_QUALITY)
    from_file = datasets.ImageFolder(str(folder.parent), transform=evaluate.RESIZE)[0][0]
    held_out = evaluate.as_training_image(garment, np.random.default_rng(k))
    assert torch.equal(from_file, held_out), k
print('same')
"""
    result = run_script(workdir, "-c", code)
    assert result.stdout.strip() == "same", result.stderr[-2000:]


def test_make_data_reads_only_the_training_split():
    source = (SOLUTION / "make_data.py").read_text()
    assert "t10k" not in source and 'mnist_family.load("fashion_mnist", data_dir, "train"' in source


def test_parameters_counted_are_the_exported_networks(workdir, tmp_path):
    """A CNN whose parameters() reports 303,397 (tests/adversarial/cnn_transfer) exports the
    286,821 it really has, and that is what evaluate.py counts."""
    forged = REPO / "tests" / "adversarial" / "cnn_transfer" / "param_count_forgery" / "model.py"
    work = tmp_path / "forged"
    shutil.copytree(workdir, work, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    shutil.copyfile(forged, work / "model.py")
    code = ("import sys; sys.path.insert(0, '.'); from model import CNN, count_parameters; "
            "from checkpoint import export_for_grading; m = CNN(); print(count_parameters(m)); "
            "export_for_grading(m, [0.5] * 3, [0.25] * 3, 'weights/cnn')")
    exported = run_script(work, "-c", code)
    assert exported.returncode == 0 and exported.stdout.split()[-1] == "303397", exported.stderr[-2000:]
    evaluated = run_script(work, "evaluate.py", "--model", "weights/cnn", "--data", "data/dogs")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert parse_summary_text(evaluated.stdout).values["parameters"] == 286821


@pytest.mark.parametrize("normalization, problem", [
    ('{"mean": [0.5, 0.5], "std": [1, 1, 1], "image_size": 32}', "three finite values"),
    ('{"mean": [0.5, 0.5, 0.5], "std": [0, 1, 1], "image_size": 32}', "std > 0"),
    ('{"mean": [0.5, 0.5, 0.5], "std": [1, 1, 1], "image_size": 100000}', "image_size must be 32"),
    ('[1, 2', "not a valid normalisation file"),
])
def test_bad_normalisation_file_is_a_one_line_error(workdir, trained, tmp_path, normalization, problem):
    shutil.copytree(workdir / "weights" / "cnn", tmp_path / "cnn")
    (tmp_path / "cnn" / "normalization.json").write_text(normalization)
    result = run_script(workdir, "evaluate.py", "--model", str(tmp_path / "cnn"), "--data", "data/dogs")
    assert result.returncode != 0 and problem in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_unreadable_export_is_a_one_line_error(workdir, trained, tmp_path):
    shutil.copytree(workdir / "weights" / "cnn", tmp_path / "cnn")
    (tmp_path / "cnn" / "model.pt2").write_bytes(b"not a program")
    result = run_script(workdir, "evaluate.py", "--model", str(tmp_path / "cnn"), "--data", "data/dogs")
    assert result.returncode != 0 and "could not be loaded as a torch.export program" in result.stderr
    assert "Traceback" not in result.stderr


PICKLED_PAYLOAD = """
import json, os, pickle, sys, zipfile
class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[3],))
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w") as dst:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("model_weights_config.json"):
            config = json.loads(data)
            config["config"]["conv1.weight"]["use_pickle"] = True
            data = json.dumps(config).encode()
        elif info.filename.endswith("weights/weight_0"):
            data = pickle.dumps(Payload())
        dst.writestr(info.filename, data)
"""


def test_export_with_a_pickled_payload_runs_no_code(workdir, trained, tmp_path):
    """torch.export.load unpickles weights marked use_pickle (torch.load, weights_only=False):
    a crafted model.pt2 would run code in the trusted step, beside the held-out labels.
    evaluate.py refuses it in one line and the payload never runs."""
    shutil.copytree(workdir / "weights" / "cnn", tmp_path / "cnn")
    (tmp_path / "craft.py").write_text(PICKLED_PAYLOAD)
    crafted = run_script(workdir, str(tmp_path / "craft.py"), "weights/cnn/model.pt2",
                         str(tmp_path / "cnn" / "model.pt2"), str(tmp_path / "ran_in_stock_loader"))
    assert crafted.returncode == 0, crafted.stderr
    stock = run_script(workdir, "-c", f"import torch\ntry: torch.export.load({str(tmp_path / 'cnn' / 'model.pt2')!r})\n"
                                      "except Exception: pass")
    assert (tmp_path / "ran_in_stock_loader").exists(), stock.stderr[-1000:]  # the attack is real
    (tmp_path / "ran_in_stock_loader").unlink()
    result = run_script(workdir, "evaluate.py", "--model", str(tmp_path / "cnn"), "--data", "data/dogs")
    assert result.returncode != 0 and "could not be loaded" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ran_in_stock_loader").exists()


def test_missing_test_split_is_a_one_line_error(workdir, trained, tmp_path):
    result = run_script(workdir, "evaluate.py", "--model", "weights/cnn", "--holdout", str(tmp_path))
    assert result.returncode != 0 and "test split" in result.stderr and "Traceback" not in result.stderr


def test_evaluation_never_imports_student_code(workdir):
    code = ("import sys; sys.path.insert(0, '.'); import evaluate; "
            "print(sorted({'model', 'dataset', 'train'} & set(sys.modules)))")
    result = run_script(workdir, "-c", code)
    assert result.stdout.strip() == "[]", result.stderr


def test_evaluation_without_an_export_is_a_clear_error(workdir):
    result = run_script(workdir, "evaluate.py", "--model", "weights/none")
    assert result.returncode != 0 and "model.pt2 not found" in result.stderr and "Traceback" not in result.stderr


def test_restoring_checkpoints_never_reads_the_keyboard(workdir, tmp_path):
    code = f"""
import sys, io
sys.path.insert(0, '.')
from torch import nn
from checkpoint import save_checkpoint, restore_checkpoint
class NoKeyboard(io.StringIO):
    def read(self, *a): raise RuntimeError('stdin was read')
    readline = read
sys.stdin = NoKeyboard()
model = nn.Linear(2, 2)
for epoch in (1, 2):
    save_checkpoint(model, epoch, {str(tmp_path)!r}, [epoch])
_, start, stats = restore_checkpoint(nn.Linear(2, 2), {str(tmp_path)!r})
_, fresh, _ = restore_checkpoint(nn.Linear(2, 2), {str(tmp_path)!r}, epoch=None)
print(start, stats, fresh)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.PIPE)  # a prompt would block on this open pipe until the timeout
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "2 [2] 0"


# ------------------------------------------------------------------ the hidden tests' checkers

def checker(name: str):
    return load_checker(ASSIGNMENT.folder / "hidden_tests" / f"{name}_check.py")


def outputs(**values) -> Outputs:
    return Outputs({k: (np.asarray(v, dtype=float) if isinstance(v, (int, float, list)) and not isinstance(v, bool)
                        else v)
                    for k, v in values.items()})


LAYER_COUNTS = {"conv1": 1216, "conv2": 12832, "conv3": 51264, "conv4": 204928, "fc1": 32832, "fc2": 325}


def test_layer_parameter_message_names_the_layer_and_both_counts():
    got = checker("cnn_model").check_parameters_per_layer(outputs(**{**LAYER_COUNTS, "conv1": 912}),
                                                          outputs(**LAYER_COUNTS))
    assert got == "expected 1216 parameters in conv1, got 912"
    assert checker("cnn_model").check_parameters_per_layer(outputs(**LAYER_COUNTS), outputs(**LAYER_COUNTS)) is None
    missing = checker("cnn_model").check_parameters_per_layer(Outputs({**outputs(**LAYER_COUNTS), "fc2": "missing"}),
                                                             outputs(**LAYER_COUNTS))
    assert "no layer named fc2" in missing


def test_padding_hint_only_for_the_padding_mistake():
    want = outputs(conv1=[16, 16, 16], conv2=[32, 8, 8], conv3=[64, 4, 4], conv4=[128, 2, 2])
    padding_one = checker("cnn_model").check_layer_output_sizes(outputs(conv1=[16, 15, 15], conv2=[32, 8, 8],
                                                                        conv3=[64, 4, 4], conv4=[128, 2, 2]), want)
    assert "conv1 16x15x15 (expected 16x16x16)" in padding_one and "padding 1" in padding_one
    wrong_channels = checker("cnn_model").check_layer_output_sizes(outputs(conv1=[8, 16, 16], conv2=[32, 8, 8],
                                                                           conv3=[64, 4, 4], conv4=[128, 2, 2]), want)
    assert "conv1 8x16x16" in wrong_channels and "padding" not in wrong_channels


def test_initial_weight_statistics_within_five_percent_and_nan_never_passes():
    check = checker("cnn_model")
    right = Outputs({name: outputs(std=std, mean=0.0) for name, std in check.WEIGHT_STD.items()})
    assert check.check_initial_weight_std(right, right) is None
    off = Outputs({**right, "fc1": outputs(std=check.WEIGHT_STD["fc1"] * 1.1, mean=0.0)})
    assert "fc1 std" in check.check_initial_weight_std(off, right)
    nan = Outputs({**right, "conv2": outputs(std=float("nan"), mean=float("nan"))})
    assert "conv2 std nan" in check.check_initial_weight_std(nan, right)


def test_training_loop_check_needs_steps_zero_grads_and_a_lower_loss():
    check = checker("training").check_train_epoch_steps_once_per_batch_and_learns
    expected = outputs(batches=8, steps=8, zero_grads=8, loss_before=0.7, loss_after=0.3)
    assert check(expected, expected) is None
    assert "zero_grad called 0 times" in check(outputs(batches=8, steps=8, zero_grads=0, loss_before=0.7,
                                                       loss_after=0.3), expected)
    assert "one optimizer step per batch" in check(outputs(batches=8, steps=1, zero_grads=8, loss_before=0.7,
                                                           loss_after=0.3), expected)
    assert "lower the training loss" in check(outputs(batches=8, steps=8, zero_grads=8, loss_before=0.7,
                                                      loss_after=0.9), expected)
    assert check(Outputs({"passed": True}), expected)  # forged or missing outputs fail


def test_statistics_hint_only_when_validation_images_were_counted():
    check = checker("cnn_dataset")
    expected = outputs(mean=[0.431373, 0.470588, 0.372549], std=[0.316206, 0.28821, 0.369485])
    peeked = check.check_statistics_of_training_images(outputs(mean=list(check.POOLED_MEAN), std=[0.3, 0.3, 0.3]),
                                                       expected)
    assert "validation images were counted" in peeked
    other = check.check_statistics_of_training_images(outputs(mean=[0.5, 0.5, 0.5], std=[0.3, 0.3, 0.3]), expected)
    assert "per-channel mean" in other and "validation" not in other


def test_imbalance_hints_match_only_their_wrong_values():
    item = next(i for i in ASSIGNMENT.rubric.items if i.id == "imbalance_tests")
    check = checker("imbalance")
    expected = CaseRecord(outputs(precision=0.5, no_positive_predicted=0.0))
    as_accuracy = check_case("precision", CaseRecord(outputs(precision=4 / 7, no_positive_predicted=0.5)), expected,
                             item, check)
    assert not as_accuracy.passed and "that is the accuracy" in as_accuracy.message
    other = check_case("precision", CaseRecord(outputs(precision=0.25, no_positive_predicted=0.0)), expected, item,
                       check)
    assert not other.passed and "that is" not in other.message and "precision: expected 0.5, got 0.25" in other.message
    losses = CaseRecord(outputs(weights_1_1=0.315668, weights_1_20=0.403132, weights_20_1=0.152665))
    unnormalised = check_case("weighted_cross_entropy", CaseRecord(outputs(weights_1_1=0.315668, weights_1_20=5.509476,
                                                                           weights_20_1=1.119545)), losses, item, check)
    assert "normalise by the sum" in unnormalised.message
