"""Per-environment risks of a batch, shared by every objective."""

import torch.nn.functional as F


def env_risks(logits, y, env, n_envs):
    """Mean binary cross-entropy (with logits) of each environment present in the batch.

    Returns {environment id: scalar tensor}; environments absent from the batch are left out."""
    risks = {}
    for e in range(n_envs):
        mask = env == e
        if mask.any():
            risks[e] = F.binary_cross_entropy_with_logits(logits[mask], y[mask])
    return risks
