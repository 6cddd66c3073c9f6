"""The objectives you implement: Group DRO and IRM (graded), V-REx and ANDMask (bonus).

This is the only file you hand in changes to; every other file is restored from the handout
when your submission is graded. Each objective is an nn.Module called as
`loss = objective(logits, y, env)` with logits of shape (B,), labels y in {0., 1.} of shape
(B,) and environment ids env of shape (B,). Use `env_risks` for the per-environment risks.
"""

import torch
from torch import nn

from risks import env_risks


class groupDRO(nn.Module):
    """Online Group DRO (Sagawa et al., 2019).

    Keeps one weight q_e per environment, starting uniform. At every training step:
    q_e <- q_e * exp(eta * L_e) with L_e detached (for the environments in the batch),
    renormalise q, then return sum_e q_e * L_e with the *updated* q. Environments absent
    from the batch are skipped. In eval mode (`.eval()`) q is not updated.
    """

    def __init__(self, n_envs, eta=0.05):
        super().__init__()
        self.n_envs = n_envs
        self.eta = eta
        self.register_buffer("q", torch.full((n_envs,), 1.0 / n_envs))

    def combine(self, risks):
        """risks: {environment id: scalar risk tensor}. Returns the Group DRO loss."""
        # TODO: update self.q with the detached risks (training mode only), then return the q-weighted sum
        raise NotImplementedError('TODO (model.py): update self.q with the detached risks (training mode only), then return the q-weighted sum')

    def forward(self, logits, y, env):
        return self.combine(env_risks(logits, y, env, self.n_envs))


class IRM(nn.Module):
    """IRMv1 (Arjovsky et al., 2019): ERM + lam * mean over environments of the penalty.

    The penalty of one environment is the squared gradient of its risk with respect to a
    scale w on the logits, at w = 1: (d L_e(w * logits) / d w)^2. Compute it for each
    environment separately (a penalty over the pooled batch is a different, weaker thing)
    and keep the graph (create_graph=True) so the penalty itself is trained on.
    """

    def __init__(self, n_envs, lam=50.0):
        super().__init__()
        self.n_envs = n_envs
        self.lam = lam

    def penalty(self, logits, y):
        """IRMv1 penalty of one environment's logits and labels (a scalar tensor)."""
        # TODO: gradient of the risk with respect to a dummy scale w = 1, squared
        raise NotImplementedError('TODO (model.py): gradient of the risk with respect to a dummy scale w = 1, squared')

    def forward(self, logits, y, env):
        # TODO: ERM term (mean of the environment risks) plus lam times the mean per-environment penalty
        raise NotImplementedError('TODO (model.py): ERM term (mean of the environment risks) plus lam times the mean per-environment penalty')


class VREx(nn.Module):
    """V-REx (Krueger et al., 2021), bonus: mean of the environment risks plus beta times
    their variance. Use the population variance (divide by the number of environments)."""

    def __init__(self, n_envs, beta=100.0):
        super().__init__()
        self.n_envs = n_envs
        self.beta = beta

    def combine(self, risks):
        """risks: {environment id: scalar risk tensor}. Returns the V-REx loss."""
        # TODO: mean risk + beta * population variance of the risks
        raise NotImplementedError('TODO (model.py): mean risk + beta * population variance of the risks')

    def forward(self, logits, y, env):
        return self.combine(env_risks(logits, y, env, self.n_envs))


class ANDMask(nn.Module):
    """ANDMask (Parascandolo et al., 2021), bonus: keep only the gradient components whose
    sign the environments agree on.

    For one parameter with per-environment gradients g_1..g_E: mask = |mean_e sign(g_e)| >= tau;
    update = mask * mean_e g_e, divided by the fraction of components kept when rescale is on.
    """

    def __init__(self, tau=1.0, rescale=True):
        super().__init__()
        self.tau = tau
        self.rescale = rescale

    def combine(self, grads):
        """grads: list (one per environment) of same-shaped gradient tensors. Returns the masked gradient."""
        # TODO: sign agreement mask times the mean gradient, rescaled by 1 / fraction kept
        raise NotImplementedError('TODO (model.py): sign agreement mask times the mean gradient, rescaled by 1 / fraction kept')
