"""Hidden tests for the imbalance metrics and the weighted loss (dog, label 1, is positive).
Checked numbers: ../shared/reference/assignments.md, section 2."""

import torch

import imbalance
from imbalance import f1_score, per_class_accuracy, precision, recall, weighted_loss

Y_TRUE = torch.tensor([0, 0, 0, 0, 1, 1, 1])
Y_PRED = torch.tensor([0, 1, 1, 0, 1, 1, 0])
LOGITS = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
LABELS = torch.tensor([0, 1, 1])


def close(a, b, tol=1e-4):
    return abs(float(a) - b) < tol


def test_per_class_accuracy():
    got = [float(v) for v in per_class_accuracy(Y_TRUE, Y_PRED)]
    assert len(got) == 2 and close(got[0], 0.5) and close(got[1], 0.666667), (
        f"per-class accuracy should be [0.5, 0.6667], got {[round(v, 4) for v in got]}")


def test_precision():
    got = precision(Y_TRUE, Y_PRED)
    assert close(got, 0.5), f"precision should be 0.5 (2 of 4 predicted dogs are dogs), got {float(got):.4f}"
    none_predicted = precision(torch.tensor([1, 0]), torch.tensor([0, 0]))
    assert close(none_predicted, 0.0), f"precision with no positive predictions should be 0.0, got {none_predicted}"


def test_recall():
    got = recall(Y_TRUE, Y_PRED)
    assert close(got, 0.666667), f"recall should be 0.6667 (2 of 3 dogs found), got {float(got):.4f}"


def test_f1(monkeypatch):
    # Graded on its own: precision and recall are the right ones here, whatever the student's are.
    monkeypatch.setattr(imbalance, "precision", lambda *a, **k: 0.5)
    monkeypatch.setattr(imbalance, "recall", lambda *a, **k: 2 / 3)
    got = f1_score(Y_TRUE, Y_PRED)
    assert close(got, 0.571429), f"F1 should be 0.5714 (harmonic mean of 0.5 and 0.6667), got {float(got):.4f}"


def test_weighted_cross_entropy():
    got = {w: weighted_loss(list(w))(LOGITS, LABELS).item() for w in ((1.0, 1.0), (1.0, 20.0), (20.0, 1.0))}
    want = {(1.0, 1.0): 0.315668, (1.0, 20.0): 0.403132, (20.0, 1.0): 0.152665}
    wrong = {w: round(v, 6) for w, v in got.items() if not close(v, want[w], 1e-5)}
    assert not wrong, f"weighted cross-entropy should give {want}; wrong: {wrong} (normalise by the weights' sum)"
