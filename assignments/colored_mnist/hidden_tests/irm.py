"""Runner of the IRM tests: the student's IRMv1 penalty and loss on fixed logits and labels."""

import torch

from grader.inside.runner_kit import case

LOGITS = torch.tensor([1.0, 1.0])
LABELS = torch.tensor([0.0, 1.0])
ENVS = torch.tensor([0, 1])


@case
def penalty_of_one_environment():
    from model import IRM

    irm = IRM(2, lam=50.0)
    return {"penalty_y0": irm.penalty(torch.tensor([1.0]), torch.tensor([0.0])),
            "penalty_y1": irm.penalty(torch.tensor([1.0]), torch.tensor([1.0]))}


@case
def penalty_is_averaged_per_environment_not_pooled():
    from model import IRM

    erm = torch.nn.functional.binary_cross_entropy_with_logits(LOGITS, LABELS)
    return {"mean_penalty": IRM(2, lam=1.0)(LOGITS, LABELS, ENVS) - erm}


@case
def lambda_weights_the_penalty():
    from model import IRM

    return {"loss": IRM(2, lam=50.0)(LOGITS, LABELS, ENVS)}


# Two examples per environment: every defensible estimate of the penalty (the one-batch square,
# or the product of two half-batch gradients) depends on the logits here, so its gradient
# shows whether the graph was kept.
GRAPH_LOGITS = torch.tensor([1.0, -0.5, 0.3, 2.0])
GRAPH_LABELS = torch.tensor([0.0, 1.0, 1.0, 0.0])
GRAPH_ENVS = torch.tensor([0, 0, 1, 1])


@case
def penalty_keeps_its_graph():
    from model import IRM

    logits = GRAPH_LOGITS.clone().requires_grad_(True)
    loss = IRM(2, lam=50.0)(logits, GRAPH_LABELS, GRAPH_ENVS)
    loss.backward()
    return {"grad": logits.grad if logits.grad is not None else torch.zeros(4), "loss": loss}
