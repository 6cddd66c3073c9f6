"""Checker of the IRM tests (grader side)."""

import numpy as np

from grader.verdict.checker import close, finite, fmt

HINTS = {
    "penalty_is_averaged_per_environment_not_pooled": [
        ("mean_penalty", 0.053388, "that is the pooled penalty: compute one penalty per environment, then average"),
    ],
    "lambda_weights_the_penalty": [("loss", 3.482662, "that is the pooled penalty times lambda")],
}

ERM_GRADIENT = [0.365529, -0.134471]  # d BCE / d logits of the fixed batch, penalty ignored


def check_penalty_keeps_its_graph(got, expected):
    """The penalty must be differentiable (create_graph=True): its gradient reaches the logits.
    Its exact value is the business of the other cases, so a pooled penalty is not failed twice."""
    grad = got.get("grad")
    if not finite(grad) or grad.shape != expected["grad"].shape or not np.abs(grad).sum() > 0:
        return f"grad: expected a finite, non-zero gradient of shape {expected['grad'].shape}, got {fmt(grad)}"
    if close(grad, np.asarray(ERM_GRADIENT), rtol=1e-3, atol=1e-3):
        return f"grad: {fmt(grad)} is plain ERM's gradient: the penalty term does not reach the logits (create_graph=True)"
    return None
