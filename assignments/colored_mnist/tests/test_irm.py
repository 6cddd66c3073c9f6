"""Hidden tests for IRM (IRMv1 penalty per environment)."""

import torch

from model import IRM

LOGITS = torch.tensor([1.0, 1.0])
LABELS = torch.tensor([0.0, 1.0])
ENVS = torch.tensor([0, 1])


def test_penalty_of_one_environment():
    irm = IRM(2, lam=50.0)
    a = irm.penalty(torch.tensor([1.0]), torch.tensor([0.0])).item()
    b = irm.penalty(torch.tensor([1.0]), torch.tensor([1.0])).item()
    assert abs(a - 0.534447) < 1e-5 and abs(b - 0.072329) < 1e-5, (
        f"penalties should be 0.534447 and 0.072329, got {a:.6f} and {b:.6f}: (d risk / d w at w = 1) squared")


def test_penalty_is_averaged_per_environment_not_pooled():
    irm = IRM(2, lam=1.0)
    erm = torch.nn.functional.binary_cross_entropy_with_logits(LOGITS, LABELS).item()
    got = irm(LOGITS, LABELS, ENVS).item() - erm
    assert abs(got - 0.303388) < 1e-4, (
        f"mean penalty should be 0.303388, got {got:.6f}"
        + (": that is the pooled penalty; compute one penalty per environment, then average" if abs(got - 0.053388) < 1e-4 else ""))


def test_lambda_weights_the_penalty():
    erm = torch.nn.functional.binary_cross_entropy_with_logits(LOGITS, LABELS).item()
    got = IRM(2, lam=50.0)(LOGITS, LABELS, ENVS).item()
    assert abs(got - (erm + 50 * 0.303388)) < 1e-3, f"loss should be ERM + 50 * 0.303388 = {erm + 15.1694:.4f}, got {got:.4f}"


def test_penalty_keeps_its_graph():
    logits = LOGITS.clone().requires_grad_(True)
    IRM(2, lam=50.0)(logits, LABELS, ENVS).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0, "the penalty must be differentiable: use create_graph=True"
    # d/dz of lam * mean_e (mean((sigmoid(z) - y) z))^2 differs from plain ERM's gradient
    erm_grad = torch.sigmoid(LOGITS) - LABELS
    assert not torch.allclose(logits.grad, erm_grad / 2, atol=1e-3), "the gradient ignores the penalty term"
