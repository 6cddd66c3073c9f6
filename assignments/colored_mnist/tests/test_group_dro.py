"""Hidden tests for groupDRO (numbers from the course reference, checked with torch)."""

import torch

from model import groupDRO

Q_AFTER_ONE = torch.tensor([0.487503, 0.512497])
Q_AFTER_TWO = torch.tensor([0.475021, 0.524979])


def risks(*values, requires_grad=False):
    return {e: torch.tensor(float(v), requires_grad=requires_grad) for e, v in enumerate(values)}


def test_q_is_updated_before_weighting():
    dro = groupDRO(2, eta=0.05)
    loss = dro.combine(risks(1.0, 2.0))
    assert torch.allclose(dro.q, Q_AFTER_ONE, atol=1e-5), (
        f"q after one step should be {Q_AFTER_ONE.tolist()}, got {dro.q.tolist()}: q_e <- q_e * exp(eta * L_e), then renormalise")
    assert abs(loss.item() - 1.512497) < 1e-5, (
        f"loss should be 1.512497 (weights from the updated q), got {loss.item():.6f}"
        + (": you weighted with q before the update" if abs(loss.item() - 1.5) < 1e-5 else "")
        + (": eta belongs inside the exp" if abs(loss.item() - 1.731058) < 1e-4 else ""))


def test_q_accumulates_over_steps():
    dro = groupDRO(2, eta=0.05)
    dro.combine(risks(1.0, 2.0))
    loss = dro.combine(risks(1.0, 2.0))
    assert torch.allclose(dro.q, Q_AFTER_TWO, atol=1e-5), (
        f"after two steps q should be {Q_AFTER_TWO.tolist()}, got {dro.q.tolist()}: keep q between calls, do not reset it")
    assert abs(loss.item() - 1.524979) < 1e-5, f"second loss should be 1.524979, got {loss.item():.6f}"


def test_gradient_flows_through_risks_with_q_detached():
    dro = groupDRO(2, eta=0.05)
    r = risks(1.0, 2.0, requires_grad=True)
    dro.combine(r).backward()
    grads = torch.tensor([r[0].grad.item(), r[1].grad.item()])
    assert torch.allclose(grads, Q_AFTER_ONE, atol=1e-5), (
        f"d loss / d L_e should equal q {Q_AFTER_ONE.tolist()}, got {grads.tolist()}: detach the risks inside the q update")


def test_missing_environment_is_skipped():
    dro = groupDRO(2, eta=0.05)
    loss = dro.combine({1: torch.tensor(2.0)})
    assert torch.isfinite(loss), "a batch without environment 0 must not give NaN or inf"
    assert torch.isfinite(dro.q).all() and abs(dro.q.sum().item() - 1) < 1e-5, f"q must stay a distribution, got {dro.q.tolist()}"
    assert dro.q[1] > dro.q[0], "the present environment's weight should grow after a positive loss"


def test_eval_mode_does_not_update_q():
    dro = groupDRO(2, eta=0.05)
    dro.eval()
    dro.combine(risks(1.0, 2.0))
    assert torch.allclose(dro.q, torch.tensor([0.5, 0.5])), "q must not change in eval mode (evaluation is not training)"
    dro.train()
    dro.combine(risks(1.0, 2.0))
    assert torch.allclose(dro.q, Q_AFTER_ONE, atol=1e-5), f"back in training mode q should update, got {dro.q.tolist()}"
