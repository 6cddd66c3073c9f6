"""The registry of training objectives: ERM here, the rest from model.py (the student's file)."""

from torch import nn

import model
from risks import env_risks


class ERM(nn.Module):
    """Mean over environments of each environment's mean risk."""

    def __init__(self, n_envs):
        super().__init__()
        self.n_envs = n_envs

    def forward(self, logits, y, env):
        risks = list(env_risks(logits, y, env, self.n_envs).values())
        return sum(risks) / len(risks)


def build(trainer, reg_name, n_envs, args):
    """The objective for --trainer / --reg_name, with hyper-parameters from the flags."""
    if trainer == "groupDRO":
        if reg_name:
            raise SystemExit("--reg_name applies to the ERM trainer only")
        return model.groupDRO(n_envs, eta=args.eta)
    if trainer == "ANDMask":
        return ERM(n_envs)  # the per-environment gradients are masked in the trainer
    if reg_name == "IRM":
        return model.IRM(n_envs, lam=args.lam)
    if reg_name == "VREx":
        return model.VREx(n_envs, beta=args.beta)
    if reg_name:
        raise SystemExit(f"unknown --reg_name {reg_name!r} (IRM, VREx)")
    return ERM(n_envs)
