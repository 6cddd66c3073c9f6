"""`grader new ID [--notebook]`: a complete, working assignment in the course root, for a course
to start from and rewrite: a reference solution with solution markers (a ridge classifier in
numpy, trained in a second on a synthetic task made from the seed), its experiment printing a
`Summary: {...}` line, run.sh, requirements.txt and a README for students; assignment.yaml with
one known-wrong baseline; a rubric with a metric item and declared hidden-test cases; the
generated skeleton; and a calibration record measured by grading the reference and the baseline
over a few seeds, so that `grader validate ID` passes on the scaffold as generated.

`grader new ID --like ASSIGNMENT` starts instead from an existing assignment of the course: its
solution, assignment folder (assignment.yaml, hidden tests, baselines, calibration record) and
rubric are copied under the new id, the old id replaced as a whole word in their text and in
file names (a notebook named after the assignment), and the skeleton built from the copy."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from grader.commands.build import build
from grader.commands.calibrate import calibrate
from grader.commands.session import Session
from grader.course import calibration, catalog
from grader.course.spec import load_model
from grader.errors import GraderError

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# ----------------------------------------------------------------------------- the student's code

FUNCTIONS = '''import numpy as np


def predict(weights, x):
    """Scores of the rows of x (shape (n, d)) for weights (shape (d,)): one number per row."""
    # BEGIN SOLUTION: the linear scores x @ weights
    return np.asarray(x) @ np.asarray(weights)
    # END SOLUTION


class RidgeClassifier:
    """Least squares with an L2 penalty, on labels in {-1, +1}."""

    def __init__(self, ridge=1.0):
        self.ridge = ridge
        self.weights = None

    def fit(self, x, y):
        """Solve (x^T x + ridge * I) w = x^T y, keep w in self.weights and return self."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        # BEGIN SOLUTION: solve the regularised normal equations for self.weights
        self.weights = np.linalg.solve(x.T @ x + self.ridge * np.eye(x.shape[1]), x.T @ y)
        # END SOLUTION
        return self

    def predict(self, x):
        """Labels in {-1, +1}: the sign of the scores (a score of 0 counts as +1)."""
        return np.where(predict(self.weights, x) >= 0, 1.0, -1.0)
'''

MODEL_PY = '''"""The file you hand in: a ridge least-squares classifier, in numpy.

Every other file is restored from the handout when your submission is graded."""

''' + FUNCTIONS

TASK = '''def make_data(rng, n, w):
    """n points in len(w) dimensions, labelled by the side of the plane w they fall on (with noise)."""
    x = rng.standard_normal((n, len(w)))
    y = np.where(x @ w + 0.5 * rng.standard_normal(n) >= 0, 1.0, -1.0)
    return x, y


rng = np.random.default_rng(SEED)
w_true = rng.standard_normal(5)
x_train, y_train = make_data(rng, 200, w_true)
x_test, y_test = make_data(rng, 1000, w_true)
model = RidgeClassifier(ridge=1.0).fit(x_train, y_train)
results = {"train_accuracy": round(float((model.predict(x_train) == y_train).mean()), 4),
           "test_accuracy": round(float((model.predict(x_test) == y_test).mean()), 4)}
print(f"seed {SEED}")
print("Summary: " + repr(results))
'''

EXPERIMENT_PY = '''"""Trains the ridge classifier on a synthetic task made from the seed; prints a Summary line.

    python experiment.py --seed SEED
"""

import argparse

import numpy as np

from model import RidgeClassifier

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
SEED = parser.parse_args().seed

''' + TASK

RUN_SH = '''#!/usr/bin/env bash
# Runs the experiment with the seed taken from your student ID, as the grader does.
# Usage: ./run.sh STUDENT_ID        (e.g. ./run.sh 12332426 -> seed 2426)
# Environment: PYTHON=python3
seed_digits=4  # assignments/__ID__/assignment.yaml seed.digits: `grader build` refuses a run.sh that disagrees
experiments=(__EXPERIMENT_NAME__)
graded=(__EXPERIMENT_NAME__)
source "$(dirname "$0")/../../grader/course/run_common.sh"  # grader build writes the grader's common part here
__RUN__
echo "log written; check your likely score with: grader check __ID__ --dir ."
'''

RUN_PY = 'run result_log.txt experiment.py --seed "$seed"'
RUN_NB = ('export GRADER_SEED="$seed"  # the notebook reads its seed from here\n'
          'run nb_log.txt -m grader.inside.notebook execute __ID__.ipynb --output executed/__ID__.ipynb')

README = '''# __TITLE__

A linear classifier trained by ridge least squares on a synthetic task: points in 5 dimensions,
labelled by the side of a random plane they fall on, with some label noise. The task is made
from your seed, so every student's numbers differ.

## What you do
__WHERE__ (the only file you hand in changes to):

| what | |
|---|---|
| `predict(weights, x)` | the linear scores `x @ weights` |
| `RidgeClassifier.fit(x, y)` | solve `(x^T x + ridge I) w = x^T y` and keep `w` in `self.weights` |

`run.sh` writes `__LOG__`, ending with a `Summary: {...}` line (train and test accuracy); the seed
is the last four digits of your student ID.

## How it is graded
The grader runs your code again with your seed and scores the test accuracy (`rubric.yaml`), and
calls your functions on inputs of its own, comparing what they return with the reference solution's.
<!-- `grader handout` adds the steps after this: install, run, check, package. -->
'''

# ----------------------------------------------------------------------------- the course's files

ASSIGNMENT_YAML = '''# Made by `grader new __ID__`: rewrite it for your course (docs/authoring.md).
title: "__TITLE__"
editable: [__EDITABLE__]
required: [__EDITABLE__, __LOG__]
seed:
  digits: 4
experiments:
__EXPERIMENT__
limits:
  cpu_seconds: __CPU__       # the run takes about a second of CPU; the wall clock is only a backstop
  memory_mb: __MEMORY__      # address space, not resident memory
validation_student_id: "20260001"
baselines:
  - name: scores_negated
    description: the scores come out with the wrong sign, so every label is flipped
    edits:
      - file: __EDITABLE__
        old: "return np.asarray(x) @ np.asarray(weights)"
        new: "return -(np.asarray(x) @ np.asarray(weights))"
    # the fit cases still pass: 2 of 3 equal weights of the unit tests' 6 points
    expect_items: {test_accuracy: 0, unit_tests: 4}
'''

EXPERIMENT_PY_YAML = '''  - name: main
    command: "{python} experiment.py --seed {seed}"
    log: result_log.txt'''

EXPERIMENT_NB_YAML = '''  - name: notebook
    command: "{python} -m grader.inside.notebook execute __ID__.ipynb --output executed/__ID__.ipynb --cell-timeout 60 --timeout 120"
    log: nb_log.txt
    partial: true                    # graded on the Summary lines printed before a stop
    artifacts: [executed/__ID__.ipynb]'''  # noqa: E501 (YAML template: the command is one line)

RUBRIC_YAML = '''# Made by `grader new __ID__`: the thresholds come from assignments/__ID__/calibration.yaml
# (the reference and the baseline graded over a few seeds); re-run `grader calibrate __ID__`
# after changing the task, and move the tiers only where the record says they hold.
assignment: __ID__
items:
  - id: test_accuracy
    title: Test accuracy of the ridge classifier
    kind: metric
    log: __LOG__
    key: test_accuracy
    tiers: [{op: ">=", threshold: 0.80, points: 14}, {op: ">=", threshold: 0.65, points: 7}]
  # Declared hidden tests: the grader calls the student's code on these inputs in the sandbox and
  # compares what it returns with the reference's (tensors: numpy arrays drawn from their seed).
  - id: unit_tests
    title: predict and fit (partial credit)
    kind: tests
    points: 6
    cases:
      - name: predict_gives_linear_scores
        call: "__MODULE__:predict"
        args: [{tensor: [3], seed: 1, lib: numpy, dtype: float64}, {tensor: [4, 3], seed: 2, lib: numpy, dtype: float64}]
        hint: "the scores are x @ weights, one per row of x"
      - name: fit_solves_the_regularised_normal_equations
        call: "__MODULE__:RidgeClassifier"
        kwargs: {ridge: 0.5}
        then:
          - method: fit
            args: [{tensor: [8, 3], seed: 3, lib: numpy, dtype: float64}, [1, -1, 1, 1, -1, -1, 1, -1]]
        record: [weights]
        hint: "solve (x^T x + ridge * I) w = x^T y"
      - name: a_large_ridge_shrinks_the_weights
        call: "__MODULE__:RidgeClassifier"
        kwargs: {ridge: 100.0}
        then:
          - method: fit
            args: [{tensor: [8, 3], seed: 3, lib: numpy, dtype: float64}, [1, -1, 1, 1, -1, -1, 1, -1]]
        record: [weights]
        hint: "the ridge term belongs on the diagonal of x^T x"
'''  # noqa: E501 (YAML template: a case's args are one flow-style line)

CALIBRATION_NOTES = '''Measured by `grader new` right after it wrote the scaffold: the reference and the baseline
graded through the real pipeline over {seeds} seeds. The task is linearly separable up to 0.5
label noise, so the reference sits near 0.9 and the baseline (labels flipped) near 0.1; the tiers
(>= 0.80 -> 14, >= 0.65 -> 7) sit between them. Re-measure with `grader calibrate` after any change.
'''

NOTEBOOK_INTRO = '''# __TITLE__

Fill in the cell tagged `functions` (`predict` and `RidgeClassifier.fit`); the other cells are
given and restored when your notebook is graded. `./run.sh STUDENT_ID` runs it headless, as the
grader does.'''

def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template


def _notebook(values: dict[str, str]) -> str:
    cells = [
        nbformat.v4.new_markdown_cell(_fill(NOTEBOOK_INTRO, values)),
        nbformat.v4.new_code_cell('import os\n\nimport numpy as np\n\n'
                                  'SEED = int(os.environ.get("GRADER_SEED", "0"))  # run.sh and the grader set it'),
        nbformat.v4.new_code_cell(FUNCTIONS.rstrip("\n"), metadata={"tags": ["functions"]}),
        nbformat.v4.new_code_cell(TASK.rstrip("\n")),
    ]
    for k, cell in enumerate(cells):
        cell["id"] = f"cell-{k}"
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
    nbformat.validate(nb)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def scaffold(root: Path, assignment_id: str, notebook: bool = False) -> list[Path]:
    """Writes the assignment's course files (all but the skeleton and the calibration record)."""
    targets = _targets(root, assignment_id)
    editable = f"{assignment_id}.ipynb" if notebook else "model.py"
    values = {
        "ID": assignment_id,
        "TITLE": f"{assignment_id}: a ridge classifier" + (" (notebook)" if notebook else ""),
        "EDITABLE": editable,
        "MODULE": editable if notebook else "model",
        "LOG": "nb_log.txt" if notebook else "result_log.txt",
        "WHERE": f"The cell tagged `functions` of `{editable}`" if notebook else "`model.py`",
        "CPU": "300" if notebook else "60",
        "MEMORY": "8192" if notebook else "4096",
        "EXPERIMENT_NAME": "notebook" if notebook else "main",
    }
    values["EXPERIMENT"] = _fill(EXPERIMENT_NB_YAML if notebook else EXPERIMENT_PY_YAML, values)
    values["RUN"] = _fill(RUN_NB if notebook else RUN_PY, values)
    files = {
        targets[0] / "assignment.yaml": _fill(ASSIGNMENT_YAML, values),
        targets[3]: _fill(RUBRIC_YAML, values),
        targets[1] / "run.sh": _fill(RUN_SH, values),
        targets[1] / "README.md": _fill(README, values),
    }
    if notebook:
        files[targets[1] / editable] = _notebook(values)
    else:
        files[targets[1] / "model.py"] = MODEL_PY
        files[targets[1] / "experiment.py"] = EXPERIMENT_PY
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (targets[1] / "run.sh").chmod(0o755)
    return sorted(files)


TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".sh", ".txt", ".ipynb", ".json", ".cfg", ".toml", ".ini"}
COPIED_NOTE = ("Copied from {like}'s record by `grader new {id} --like {like}`: these are {like}'s runs,\n"
               "a starting point only; re-measure with `grader calibrate {id} --write` after changing the task.\n")


def _targets(root: Path, assignment_id: str) -> list[Path]:
    """assignments/ID, solutions/ID, skeleton/ID, rubrics/ID.yaml; refused when the id is odd or any is taken."""
    if not ID_PATTERN.match(assignment_id):
        raise GraderError(f"assignment id {assignment_id!r}: use lower-case letters, digits and _, "
                          "starting with a letter")
    targets = [root / "assignments" / assignment_id, root / "solutions" / assignment_id,
               root / "skeleton" / assignment_id, root / "rubrics" / f"{assignment_id}.yaml"]
    taken = [p for p in targets if p.exists()]
    if taken:
        raise GraderError("already exists: remove it or choose another id", taken[0])
    return targets


def _renamed(text: str, old: str, new: str) -> str:
    """text with `old` replaced by `new` where it stands as a whole word (letters, digits and _ around it are not)."""
    return re.sub(rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9_])", new, text)


def _copy_renamed(source: Path, dest: Path, old: str, new: str) -> list[Path]:
    """Copies the folder or file `source` to `dest`, the id renamed in text files and in names; caches left out."""
    written = []
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(source) if source.is_dir() else Path()
        if any(part in ("__pycache__", ".ipynb_checkpoints") for part in rel.parts):
            continue
        target = dest.joinpath(*(_renamed(part, old, new) for part in rel.parts))
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in TEXT_SUFFIXES:
            target.write_text(_renamed(path.read_text(encoding="utf-8"), old, new), encoding="utf-8")
        else:
            shutil.copyfile(path, target)
        shutil.copymode(path, target)
        written.append(target)
    return written


def scaffold_like(root: Path, assignment_id: str, like: str) -> list[Path]:
    """Writes the assignment's course files as a copy of the assignment `like` (all but the skeleton)."""
    source = catalog.load(like, root)
    targets = _targets(root, assignment_id)
    written = []
    try:
        written += _copy_renamed(source.folder, targets[0], like, assignment_id)
        written += _copy_renamed(source.solution_dir, targets[1], like, assignment_id)
        written += _copy_renamed(source.rubric_path, targets[3], like, assignment_id)
        record_path = targets[0] / calibration.FILE_NAME
        if record_path.is_file():  # the runs as measured, under the new id: the id only in `assignment`
            record = load_model(calibration.CalibrationFile, source.folder / calibration.FILE_NAME)
            note = COPIED_NOTE.format(like=like, id=assignment_id)
            records = [r.model_copy(update={"notes": note + r.notes,
                                            "measured": f"{r.measured} (copied from {like})"})
                       for r in record.records]
            calibration.write(record.model_copy(update={"assignment": assignment_id, "records": records}), record_path)
    except BaseException:
        _remove(root, assignment_id)
        raise
    return sorted(written)


def _remove(root: Path, assignment_id: str) -> None:
    for path in (root / "assignments" / assignment_id, root / "solutions" / assignment_id,
                 root / "skeleton" / assignment_id):
        shutil.rmtree(path, ignore_errors=True)
    (root / "rubrics" / f"{assignment_id}.yaml").unlink(missing_ok=True)


def run_like(session: Session, assignment_id: str, like: str) -> None:
    """`grader new ID --like ASSIGNMENT`: copy the assignment under the new id, build its skeleton."""
    written = scaffold_like(session.root, assignment_id, like)
    try:
        skeleton = build(catalog.load(assignment_id, session.root))
    except BaseException:
        _remove(session.root, assignment_id)
        raise
    session.console.print(f"{assignment_id}: copied {len(written)} course files from {like} and built "
                          f"{len(skeleton)} skeleton files; its calibration record is {like}'s until "
                          f"`grader calibrate {assignment_id} --write` re-measures it")
    session.console.print(f"{assignment_id}: ready in {session.root}; next: grader validate {assignment_id}")


def run(session: Session, assignment_id: str, notebook: bool, seeds: int, like: str | None = None) -> None:
    """`grader new`: scaffold, build the skeleton, measure the calibration record."""
    if like:
        if notebook:
            raise GraderError("--like copies an assignment as it is: leave out --notebook")
        run_like(session, assignment_id, like)
        return
    written = scaffold(session.root, assignment_id, notebook)
    try:
        assignment = catalog.load(assignment_id, session.root)
        skeleton = build(assignment)
        session.console.print(f"{assignment_id}: wrote {len(written)} course files and {len(skeleton)} skeleton files; "
                              f"calibrating over {seeds} seeds ...")
        with tempfile.TemporaryDirectory(prefix="grader-new-") as tmp:
            record = calibrate(assignment, session.sandbox("local"), seeds, Path(tmp), session.console)
        record = record.model_copy(update={"notes": CALIBRATION_NOTES.format(seeds=seeds),
                                           "measured": f"{record.measured} (run by grader new)"})
        calibration.write(calibration.CalibrationFile(assignment=assignment_id, records=[record]),
                          assignment.folder / calibration.FILE_NAME)
        problems = calibration.disagreements(calibration.load(assignment), assignment)
    except BaseException:
        _remove(session.root, assignment_id)
        raise
    if problems:
        session.notice(f"{assignment_id}: the measured runs disagree with the rubric's tiers: {problems[0]}")
    session.console.print(f"{assignment_id}: ready in {session.root}; next: grader validate {assignment_id}")
