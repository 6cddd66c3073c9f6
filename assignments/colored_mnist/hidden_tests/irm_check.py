"""Checker of the IRM tests (grader side)."""

import numpy as np

from grader.verdict.checker import close, finite, fmt

HINTS = {
    "penalty_is_averaged_per_environment_not_pooled": [
        ("mean_penalty", 0.053388, "that is the pooled penalty: compute one penalty per environment, then average"),
    ],
    "lambda_weights_the_penalty": [("loss", 3.482662, "that is the pooled penalty times lambda")],
}

# d (mean of the environment risks) / d logits of the graph case's batch (irm.py GRAPH_*): the
# gradient of a loss whose penalty term adds nothing to it
ERM_GRADIENT = [0.182765, -0.155615, -0.106389, 0.220199]


def check_penalty_keeps_its_graph(got, expected):
    """The penalty must be differentiable (create_graph=True): its gradient reaches the logits.
    Its exact value is the business of the other cases, so a pooled penalty is not failed twice.
    The create_graph hint is claimed only where it is the explanation: the loss (so the
    penalty's value) is the reference's, yet its gradient is plain ERM's. A gradient like ERM's
    with another loss may be a penalty that is zero or constant on this batch: that is said as
    it is, without guessing the cause."""
    grad = got.get("grad")
    if not finite(grad) or grad.shape != expected["grad"].shape or not np.abs(grad).sum() > 0:
        return f"grad: expected a finite, non-zero gradient of shape {expected['grad'].shape}, got {fmt(grad)}"
    if not close(grad, np.asarray(ERM_GRADIENT), rtol=1e-3, atol=1e-3):
        return None
    loss, want = got.get("loss"), expected.get("loss")
    if finite(loss) and want is not None and close(loss, want, rtol=1e-4, atol=1e-5):
        return (f"grad: {fmt(grad)} is plain ERM's gradient although the loss {fmt(loss)} is right: the penalty's "
                "value does not reach the logits (create_graph=True)")
    return (f"grad: {fmt(grad)} is plain ERM's gradient: the penalty adds nothing to the gradient on this batch "
            f"(the loss is {fmt(loss)}, the reference's {fmt(want)})")
