"""The adversarial cnn_transfer submissions (issue 13): each tries to raise one or more rubric
items without doing the work, and must score 0 on them. The files of each live in the folder of
its name; the editable files an attack does not replace come from the reference solution or the
skeleton. A file named X.planted is shipped as X (kept under another name here so that pytest
never collects a planted conftest.py). tests/adversarial/test_adversarial_cnn_transfer.py grades them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDENT_ID = "20260001"


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    base: str  # "reference" or "skeleton": where the editable files it does not replace come from
    attacked: tuple[str, ...]  # rubric items it tries to raise: each must score 0
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)  # file -> (old, new) on the base file


ATTACKS = {a.name: a for a in [
    Attack("exit_handler_forges_tests",
           "skeleton whose model.py patches pytest and the recorder, and rewrites the recorded results "
           "(and JUnit XML) from an exit handler",
           "skeleton", ("cnn_tests", "dataset_tests", "training_tests", "transfer_tests", "imbalance_tests",
                        "transfer_trainable")),
    Attack("param_count_forgery",
           "CNN with fc1 of 32 units whose parameters() reports 303,397 through a padding tensor",
           "reference", ("cnn_parameters",),
           # two epochs keep the test fast; the count does not depend on training
           edits={"train.py": ('parser.add_argument("--epochs", type=int, default=10)',
                               'parser.add_argument("--epochs", type=int, default=2)')}),
    Attack("rewrites_validation_folder",
           "exports an always-'coat' network, then fills data/dogs/valid with coats before evaluation",
           "reference", ("cnn_accuracy",)),
    Attack("plants_code_between_steps",
           "exports a one-layer network, then plants sitecustomize/usercustomize/conftest/.pth files, "
           "modules shadowing json, argparse, torchvision and make_data, and rewrites evaluate.py",
           "reference", ("cnn_accuracy", "cnn_parameters")),
    Attack("ships_protected_files",
           "exports a one-layer network and ships its own evaluate.py, make_data.py, sitecustomize.py and "
           "conftest.py, each printing a perfect Summary",
           "reference", ("cnn_accuracy", "cnn_parameters")),
]}


def build(attack: Attack, assignment, dest: Path) -> Path:
    """The submission as a studentID_name folder under dest."""
    folder = dest / f"{STUDENT_ID}_{attack.name}"
    base = assignment.solution_dir if attack.base == "reference" else assignment.skeleton_dir
    folder.mkdir(parents=True)
    for rel in assignment.spec.editable:
        shutil.copyfile(base / rel, folder / rel)
    for path in sorted((HERE / attack.name).iterdir()):
        if path.is_file():
            shutil.copyfile(path, folder / path.name.removesuffix(".planted"))
    for rel, (old, new) in attack.edits.items():
        text = (folder / rel).read_text()
        if text.count(old) != 1:
            raise ValueError(f"{attack.name}: {rel} does not contain {old!r} exactly once")
        (folder / rel).write_text(text.replace(old, new))
    return folder
