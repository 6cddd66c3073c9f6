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
    # TODO: one integer per (label, channel) pair, label-major
    raise NotImplementedError('TODO (groups.py): one integer per (label, channel) pair, label-major')


def balanced_indices(groups, n_samples, rng):
    """n_samples item indices in which every non-empty group is equally likely: draw a group
    uniformly among the groups present, then an item uniformly inside it (with replacement).
    rng: a numpy Generator; use only it, so the same seed gives the same batches."""
    # TODO: uniform over present groups, then uniform within the group
    raise NotImplementedError('TODO (groups.py): uniform over present groups, then uniform within the group')


def worst_group_loss(losses, groups, q, eta=0.01):
    """Online worst-group (Group DRO) loss. losses: per-item losses (tensor, N); groups: group
    of each item (tensor, N); q: weight of every group (tensor, sums to 1), updated in place
    and kept between steps, so groups that stay hard gain weight.
    For each group g present in the batch, with L_g its mean loss: q[g] *= exp(eta * L_g)
    (no gradient through q), then q /= q.sum(); return the sum over present g of q[g] * L_g."""
    # TODO: group means, exponentiated-gradient update of q without grad, q-weighted sum
    raise NotImplementedError('TODO (groups.py): group means, exponentiated-gradient update of q without grad, q-weighted sum')
