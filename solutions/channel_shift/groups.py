"""Group-balanced worst-group training: the part you write.

A group is a (label, channel) pair: 100 groups. In training almost every item sits on the
diagonal (channel == label); the off-diagonal groups are small, and they are the ones that
show what the digit looks like regardless of its channel.
"""

import numpy as np
import torch

N_CLASSES = 10


def make_groups(labels, channels, n_classes=N_CLASSES):
    """Group index of each item: label * n_classes + channel (numpy int64 array)."""
    # BEGIN SOLUTION: one integer per (label, channel) pair, label-major
    return np.asarray(labels, dtype=np.int64) * n_classes + np.asarray(channels, dtype=np.int64)
    # END SOLUTION


def balanced_indices(groups, n_samples, rng):
    """n_samples item indices in which every non-empty group is equally likely: draw a group
    uniformly among the groups present, then an item uniformly inside it (with replacement).
    rng: a numpy Generator; use only it, so the same seed gives the same batches."""
    # BEGIN SOLUTION: uniform over present groups, then uniform within the group
    groups = np.asarray(groups)
    present, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(present))]
    chosen = rng.integers(0, len(present), size=n_samples)
    offsets = rng.random(n_samples)
    return np.array([members[g][int(o * len(members[g]))] for g, o in zip(chosen, offsets)], dtype=np.int64)
    # END SOLUTION


def worst_group_loss(losses, groups, q, eta=0.01):
    """Online worst-group (Group DRO) loss. losses: per-item losses (tensor, N); groups: group
    of each item (tensor, N); q: weight of every group (tensor, sums to 1), updated in place
    and kept between steps, so groups that stay hard gain weight.
    For each group g present in the batch, with L_g its mean loss: q[g] *= exp(eta * L_g)
    (no gradient through q), then q /= q.sum(); return the sum over present g of q[g] * L_g."""
    # BEGIN SOLUTION: group means, exponentiated-gradient update of q without grad, q-weighted sum
    present = torch.unique(groups)
    group_means = torch.stack([losses[groups == g].mean() for g in present])
    with torch.no_grad():
        q[present] *= torch.exp(eta * group_means.detach())
        q /= q.sum()
    return (q[present] * group_means).sum()
    # END SOLUTION
