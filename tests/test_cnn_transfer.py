"""The CNN and transfer-learning assignment: the offline data builder, the train -> export ->
evaluate path, checkpoints that never prompt (hidden tests and validation of every shipped
assignment: tests/test_shipped_assignments.py)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from grader import catalog
from grader.parse import parse_summary_text


ASSIGNMENT = catalog.load("cnn_transfer")
SOLUTION = ASSIGNMENT.solution_dir


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
    assert run_script(tmp_path, "make_data.py", "--out", "again").returncode == 0
    for name in ("dogs", "dogcat"):
        assert folder_digest(tmp_path / "again" / name) == folder_digest(workdir / "data" / name)


def test_course_data_missing_is_a_clear_error(workdir, tmp_path):
    result = run_script(workdir, "make_data.py", "--dataset", "course", "--data_dir", str(tmp_path))
    assert result.returncode != 0 and "course data missing" in result.stderr and "Traceback" not in result.stderr


def test_exported_model_scores_what_training_reported(workdir):
    """train.py (student code) exports; evaluate.py (never imports it) scores the same network."""
    trained = run_script(workdir, "train.py", "--seed", "3", "--epochs", "1", "--export", "weights/cnn")
    assert trained.returncode == 0, trained.stderr[-2000:]
    evaluated = run_script(workdir, "evaluate.py", "--model", "weights/cnn")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    train_summary, eval_summary = parse_summary_text(trained.stdout), parse_summary_text(evaluated.stdout)
    assert eval_summary.values["val_images"] == 200
    assert abs(eval_summary.values["val_accuracy"] - train_summary.values["val_accuracy"]) < 1e-9


def test_evaluation_never_imports_student_code(workdir):
    code = "import sys; sys.path.insert(0, '.'); import evaluate; print(sorted({'model', 'dataset', 'train'} & set(sys.modules)))"
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
