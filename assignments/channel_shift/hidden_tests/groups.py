"""Runner of the group tests: the student's group construction, balanced resampling and
worst-group loss on fixed inputs; indices, weights, losses and gradients are recorded."""

import numpy as np
import torch

from grader.inside.runner_kit import case


@case
def groups_are_label_channel_pairs():
    from groups import make_groups

    return {"groups": np.asarray(make_groups(np.array([0, 3, 9, 3]), np.array([0, 5, 9, 3])))}


@case
def balanced_indices_draw_every_group_equally():
    from groups import balanced_indices

    groups = np.array([7] * 990 + [42] * 10)
    return {"groups": groups, "idx": np.asarray(balanced_indices(groups, 4000, np.random.default_rng(0)))}


@case
def balanced_indices_are_uniform_inside_a_group_and_reproducible():
    from groups import balanced_indices

    groups = np.array([1] * 4 + [2] * 4)
    first = np.asarray(balanced_indices(groups, 8000, np.random.default_rng(1)))
    again = np.asarray(balanced_indices(groups, 8000, np.random.default_rng(1)))
    return {"idx": first, "again": again}


@case
def worst_group_loss_value_and_weights():
    from groups import worst_group_loss

    losses = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    q = torch.tensor([0.5, 0.5])
    loss = worst_group_loss(losses, torch.tensor([0, 0, 1, 1]), q, eta=1.0)
    loss.backward()
    return {"q": q, "loss": loss, "grad": losses.grad if losses.grad is not None else torch.full((4,), float("nan"))}


@case
def worst_group_weights_build_up_over_steps():
    from groups import worst_group_loss

    q = torch.full((3,), 1 / 3)
    for _ in range(5):
        worst_group_loss(torch.tensor([0.1, 2.0]), torch.tensor([0, 2]), q, eta=0.5)
    return {"q": q}
