"""Checker of the group tests (grader side, numpy only). Resampling is judged by what the
indices show, not by equality with the reference's draws: any correct sampler passes."""

import numpy as np

from grader.verdict.checker import fmt


def _indices(got, key, n_items, n_samples):
    idx = got.get(key)
    if not isinstance(idx, np.ndarray) or idx.shape != (n_samples,):
        return None, f"{key}: expected {n_samples} indices, got {fmt(idx)}"
    if idx.min() < 0 or idx.max() >= n_items or not np.all(idx == np.round(idx)):
        return None, f"{key}: indices must be positions 0..{n_items - 1} into groups"
    return idx.astype(int), None


def check_balanced_indices_draw_every_group_equally(got, expected):
    groups = expected["groups"].astype(int)
    idx, problem = _indices(got, "idx", len(groups), 4000)
    if problem:
        return problem
    share = float((groups[idx] == 42).mean())
    if abs(share - 0.5) >= 0.05:
        return f"a group of 10 items among 1000 should be drawn half the time, got {share:.3f}"
    return None


def check_balanced_indices_are_uniform_inside_a_group_and_reproducible(got, expected):
    idx, problem = _indices(got, "idx", 8, 8000)
    if problem:
        return problem
    counts = np.bincount(idx, minlength=8)
    if counts.min() <= 800:
        return f"every item of a group should be drawn about as often, got counts {counts.tolist()}"
    again, problem = _indices(got, "again", 8, 8000)
    if problem or not np.array_equal(idx, again):
        return "the same rng seed must give the same indices (use only the rng passed in)"
    return None


HINTS = {
    "worst_group_loss_value_and_weights": [("loss", 2.5, "that is the plain mean loss: weight the group means by q")],
}
