"""Runner of the ANDMask tests: masked mean gradients of fixed per-environment gradients."""

import torch

from grader.inside.runner_kit import case

G1 = torch.tensor([1.0, -1.0, 2.0, 0.5])
G2 = torch.tensor([3.0, 1.0, 1.0, -0.5])


@case
def mask_keeps_agreeing_components():
    from model import ANDMask

    return {"four": ANDMask(tau=1.0, rescale=False).combine([G1, G2]),
            "two": ANDMask(tau=1.0, rescale=False).combine([torch.tensor([1.0, -1.0]), torch.tensor([3.0, 3.0])])}


@case
def rescaled_by_fraction_kept():
    from model import ANDMask

    return {"update": ANDMask(tau=1.0, rescale=True).combine([G1, G2])}
