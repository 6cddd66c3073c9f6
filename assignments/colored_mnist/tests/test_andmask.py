"""Hidden tests for ANDMask (bonus)."""

import torch

from model import ANDMask

G1 = torch.tensor([1.0, -1.0, 2.0, 0.5])
G2 = torch.tensor([3.0, 1.0, 1.0, -0.5])


def test_mask_keeps_agreeing_components():
    got = ANDMask(tau=1.0, rescale=False).combine([G1, G2])
    assert torch.allclose(got, torch.tensor([2.0, 0.0, 1.5, 0.0])), (
        f"masked mean should be [2, 0, 1.5, 0], got {got.tolist()}: keep components whose signs agree, average the rest")
    got = ANDMask(tau=1.0, rescale=False).combine([torch.tensor([1.0, -1.0]), torch.tensor([3.0, 3.0])])
    assert torch.allclose(got, torch.tensor([2.0, 0.0])), (
        f"gradients [1, -1] and [3, 3] should give [2, 0] (signs disagree on the second), got {got.tolist()}")


def test_rescaled_by_fraction_kept():
    got = ANDMask(tau=1.0, rescale=True).combine([G1, G2])
    assert torch.allclose(got, torch.tensor([4.0, 0.0, 3.0, 0.0])), (
        f"rescaled update should be [4, 0, 3, 0] (half the components kept), got {got.tolist()}")
