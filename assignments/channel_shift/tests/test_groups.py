"""Hidden tests for group-balanced worst-group training over (label, channel) groups."""

import math

import numpy as np
import torch

from groups import balanced_indices, make_groups, worst_group_loss


def test_groups_are_label_channel_pairs():
    got = np.asarray(make_groups(np.array([0, 3, 9, 3]), np.array([0, 5, 9, 3])))
    assert got.tolist() == [0, 35, 99, 33], f"groups of (label, channel) (0,0), (3,5), (9,9), (3,3) should be [0, 35, 99, 33], got {got.tolist()}"


def test_balanced_indices_draw_every_group_equally():
    groups = np.array([7] * 990 + [42] * 10)
    idx = np.asarray(balanced_indices(groups, 4000, np.random.default_rng(0)))
    assert idx.shape == (4000,) and idx.min() >= 0 and idx.max() < len(groups), "indices must be n_samples positions into groups"
    share = (groups[idx] == 42).mean()
    assert abs(share - 0.5) < 0.05, f"a group of 10 items among 1000 should be drawn half the time, got {share:.3f}"


def test_balanced_indices_are_uniform_inside_a_group_and_reproducible():
    groups = np.array([1] * 4 + [2] * 4)
    idx = np.asarray(balanced_indices(groups, 8000, np.random.default_rng(1)))
    counts = np.bincount(idx, minlength=8)
    assert counts.min() > 800, f"every item of a group should be drawn about as often, got counts {counts.tolist()}"
    again = np.asarray(balanced_indices(groups, 8000, np.random.default_rng(1)))
    assert np.array_equal(idx, again), "the same rng seed must give the same indices (use only the rng passed in)"


def test_worst_group_loss_value_and_weights():
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    q = torch.tensor([0.5, 0.5])
    got = worst_group_loss(losses, torch.tensor([0, 0, 1, 1]), q, eta=1.0)
    a, b = math.exp(1.5), math.exp(3.5)
    want_q = [a / (a + b), b / (a + b)]
    assert torch.allclose(q, torch.tensor(want_q), atol=1e-4), f"q should become {[round(v, 4) for v in want_q]} in place, got {q.tolist()}"
    want = want_q[0] * 1.5 + want_q[1] * 3.5
    assert abs(got.item() - want) < 1e-4, f"loss should be {want:.4f} (the q-weighted group means), got {got.item():.4f}"
    got.backward()
    assert losses.grad is not None and torch.allclose(losses.grad, torch.tensor([want_q[0] / 2] * 2 + [want_q[1] / 2] * 2), atol=1e-4), (
        "the gradient must flow through the group means and not through q")


def test_worst_group_weights_build_up_over_steps():
    q = torch.full((3,), 1 / 3)
    for _ in range(5):
        worst_group_loss(torch.tensor([0.1, 2.0]), torch.tensor([0, 2]), q, eta=0.5)
    assert q[2] > 0.6 and abs(q.sum().item() - 1) < 1e-5, f"a group that stays hard should gain weight step after step, q = {q.tolist()}"
    assert q[1] < q[0], f"an absent group keeps its weight relative to others only through renormalisation, q = {q.tolist()}"
