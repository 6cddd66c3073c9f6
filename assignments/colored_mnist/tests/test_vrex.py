"""Hidden tests for V-REx (bonus)."""

import torch

from model import VREx


def test_population_variance_of_risks():
    got = VREx(2, beta=1.0).combine({0: torch.tensor(0.3), 1: torch.tensor(0.7)}).item() - 0.5
    hint = {0.08: "that is the unbiased variance; use the population variance",
            0.16: "that is the squared difference of the risks; use their variance"}
    extra = next((": " + h for v, h in hint.items() if abs(got - v) < 1e-5), "")
    assert abs(got - 0.04) < 1e-5, f"variance term should be 0.04 for risks [0.3, 0.7], got {got:.6f}{extra}"


def test_beta_weights_the_variance():
    got = VREx(2, beta=10.0).combine({0: torch.tensor(0.3), 1: torch.tensor(0.7)}).item()
    assert abs(got - 0.9) < 1e-5, f"mean 0.5 + 10 * 0.04 = 0.9 expected, got {got:.6f}"
