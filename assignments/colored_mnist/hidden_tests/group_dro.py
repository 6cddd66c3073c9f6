"""Runner of the Group DRO tests: calls the student's groupDRO on fixed risks and records q,
the losses and the gradients. The grader compares them with the reference's outputs."""

import torch

from grader.inside.runner_kit import case


def risks(*values, requires_grad=False):
    return {e: torch.tensor(float(v), requires_grad=requires_grad) for e, v in enumerate(values)}


@case
def q_is_updated_before_weighting():
    from model import groupDRO

    dro = groupDRO(2, eta=0.05)
    loss = dro.combine(risks(1.0, 2.0))
    return {"q": dro.q, "loss": loss}


@case
def q_accumulates_over_steps():
    from model import groupDRO

    dro = groupDRO(2, eta=0.05)
    dro.combine(risks(1.0, 2.0))
    loss = dro.combine(risks(1.0, 2.0))
    return {"q": dro.q, "loss": loss}


@case
def gradient_flows_through_risks_with_q_detached():
    from model import groupDRO

    r = risks(1.0, 2.0, requires_grad=True)
    groupDRO(2, eta=0.05).combine(r).backward()
    return {"grad": torch.stack([r[0].grad, r[1].grad])}


@case
def missing_environment_is_skipped():
    from model import groupDRO

    dro = groupDRO(2, eta=0.05)
    loss = dro.combine({1: torch.tensor(2.0)})
    return {"loss": loss, "q": dro.q}


@case
def eval_mode_does_not_update_q():
    from model import groupDRO

    dro = groupDRO(2, eta=0.05)
    dro.eval()
    dro.combine(risks(1.0, 2.0))
    q_eval = dro.q.clone()
    dro.train()
    dro.combine(risks(1.0, 2.0))
    return {"q_after_eval": q_eval, "q_after_train": dro.q}
