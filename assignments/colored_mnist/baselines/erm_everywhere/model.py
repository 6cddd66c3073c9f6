"""Known-wrong baseline: every objective answered with plain ERM (the mean risk)."""

import torch
from risks import env_risks
from torch import nn


class _MeanRisk(nn.Module):
    def __init__(self, n_envs, **hyper):
        super().__init__()
        self.n_envs = n_envs
        self.register_buffer("q", torch.full((n_envs,), 1.0 / n_envs))

    def combine(self, risks):
        return torch.stack(list(risks.values())).mean()

    def penalty(self, logits, y):
        return torch.zeros(())

    def forward(self, logits, y, env):
        return self.combine(env_risks(logits, y, env, self.n_envs))


groupDRO = IRM = VREx = _MeanRisk


class ANDMask(nn.Module):
    def __init__(self, tau=1.0, rescale=True):
        super().__init__()

    def combine(self, grads):
        return torch.stack(grads).mean(0)
