"""Forged cvae_ood notebooks (tests/adversarial/cvae_ood/): a printed Summary, an edited given
cell, a threshold tuned on set 2 with scores that recognise set 2, forged exports and logs.
Each scores 0 on every item it attacks, while the honest reference, graded the same way,
gets those items in full: the numbers come from the grader's trusted steps on held-out images,
never from anything the notebook prints or writes."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from grader.course import catalog
from grader.course.skeleton import plain_solution
from grader.steps.intake import open_submission
from grader.steps.pipeline import grade_submission
from grader.steps.workspace import prepare_workspace

from conftest import grading_backend, write_zip

sys.path.insert(0, str(Path(__file__).parent / "cvae_ood"))
import attacks

pytestmark = pytest.mark.slow  # each grading runs the notebook (the honest one trains for a minute or more)

ASSIGNMENT = catalog.load("cvae_ood")
NOTEBOOK = "cvae_ood.ipynb"
SKELETON = (ASSIGNMENT.skeleton_dir / NOTEBOOK).read_text()


def _grade(tmp_path: Path, text: str, sandbox, stem: str = "20250042_ana"):
    zip_path = write_zip(tmp_path / f"{stem}.zip", {NOTEBOOK: text})
    return grade_submission(zip_path, ASSIGNMENT, sandbox, tmp_path / "out")


def _items(report) -> dict:
    return {i.id: i for i in report.items}


def _reference_with_a_plot() -> str:
    """The reference notebook plus a plotting cell (issue 14: matplotlib is in the grading image
    and the handout's requirements, and a plot costs nothing), written as a student would: an
    import added to the given imports cell (`import torch.nn.functional as F`, the most ordinary
    place for it; issue 23: restoring given cells keeps added imports) and used in their own code."""
    nb = nbformat.reads(plain_solution((ASSIGNMENT.solution_dir / NOTEBOOK).read_text(), NOTEBOOK), as_version=4)
    imports = next(c for c in nb.cells if c.cell_type == "code" and "from torch import nn" in c.source)
    imports.source += "\nimport torch.nn.functional as F"
    loss = "nn.functional.binary_cross_entropy_with_logits"
    used = next(c for c in nb.cells if loss in c.source)
    used.source = used.source.replace(loss, "F.binary_cross_entropy_with_logits")
    nb.cells.insert(2, nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])"))
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def sandbox():
    from grader.sandbox import make_sandbox

    return make_sandbox(grading_backend())


@pytest.fixture(scope="module")
def honest(tmp_path_factory, sandbox):
    return _grade(tmp_path_factory.mktemp("honest"), _reference_with_a_plot(), sandbox, stem="20250041_ref")


def test_the_honest_reference_with_a_plot_and_an_added_import_gets_full_marks(honest):
    assert honest.score == honest.max_score == 20, [(i.id, i.points, i.message) for i in honest.items]
    assert not honest.flags  # an import added to a given cell is no edit of it


# What shows the forgery took effect where the notebook has a say (its own log, or set 2's
# numbers the grader recomputes from its exports, shown but not scored): log -> text.
FORGERY_VISIBLE = {
    "forged_summary": ("cvae_log.txt", "Summary: {'auc': 0.99"),
    "threshold_on_set2": ("ood_eval_log.txt", "'set2_auc': 1.0, 'set2_detection_accuracy': 1.0"),
    "forged_exports": ("ood_eval_log.txt", "'set2_auc': 1.0, 'set2_detection_accuracy': 1.0"),
}


@pytest.mark.parametrize("attack", sorted(attacks.ATTACKS))
def test_a_forgery_scores_zero_on_the_items_it_attacks(tmp_path, sandbox, honest, attack):
    report = _grade(tmp_path, attacks.build(attack, SKELETON), sandbox)
    assert report.status == "graded", report.message
    forged, reference = _items(report), _items(honest)
    for item in attacks.ATTACKS[attack]:
        assert reference[item].points == reference[item].max_points, (item, reference[item].message)
        assert forged[item].points == 0, (attack, item, forged[item].value, forged[item].message)
    if attack in FORGERY_VISIBLE:
        log, text = FORGERY_VISIBLE[attack]
        assert text in (tmp_path / "out" / "20250042_ana" / "logs" / log).read_text()


def test_the_edited_given_cell_is_restored_and_flagged(tmp_path):
    text = attacks.build("edited_given_cell", SKELETON)
    submission = open_submission(write_zip(tmp_path / "20250042_ana.zip", {NOTEBOOK: text}), tmp_path / "submitted",
                                 ASSIGNMENT.spec.intake, None)
    ws = prepare_workspace(ASSIGNMENT, submission, tmp_path / "ws")
    ran = nbformat.read(str(ws.path / NOTEBOOK), as_version=4)
    given = nbformat.reads(SKELETON, as_version=4)
    evaluation = next(c for c in given.cells if c.source.startswith('x1, y1 = data["set1"]'))
    assert evaluation.source in [c.source for c in ran.cells]
    assert ("PERFECT" not in ws.path.joinpath(NOTEBOOK).read_text()
            and "0.99" not in ws.path.joinpath(NOTEBOOK).read_text())
    assert len(ws.flags) == 1 and ws.flags[0].startswith("given notebook cells were edited: cvae_ood.ipynb cell 14")
