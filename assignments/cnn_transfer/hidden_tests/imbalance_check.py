"""Checker of the imbalance metrics' hidden tests (runs in the grader, never imports student
code). Plain equality with the reference for every value; hints only for the known mistakes."""

import numpy as np

# The example's per-item cross-entropies, weighted by their class but divided by the number of
# items instead of the weights' sum: what a hand-written weighted mean often gives.
_LOGITS = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
_LABELS = np.array([0, 1, 1])
_ITEM_LOSS = np.log(np.exp(_LOGITS).sum(axis=1)) - _LOGITS[np.arange(3), _LABELS]


def _mean_not_normalised(weights):
    return float((np.asarray(weights)[_LABELS] * _ITEM_LOSS).mean())


HINTS = {
    "precision": [("precision", 4 / 7, "that is the accuracy: precision counts only the items predicted as dogs")],
    "recall": [("recall", 0.5, "that is the precision: recall divides by the actual dogs")],
    "weighted_cross_entropy": [
        ("weights_1_20", _mean_not_normalised([1, 20]), "normalise by the sum of the items' weights, not their number"),
        ("weights_20_1", _mean_not_normalised([20, 1]), "normalise by the sum of the items' weights, not their number"),
    ],
}
