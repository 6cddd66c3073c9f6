"""Hidden tests for the CNN: shapes, layer sizes, parameter counts, initialisation."""

import math

import pytest
import torch
from torch import nn

from model import CNN, count_parameters

LAYER_OUTPUTS = {"conv1": (16, 16, 16), "conv2": (32, 8, 8), "conv3": (64, 4, 4), "conv4": (128, 2, 2)}
LAYER_PARAMETERS = {"conv1": 1216, "conv2": 12832, "conv3": 51264, "conv4": 204928, "fc1": 32832, "fc2": 325}
WEIGHT_STD = {"conv1": math.sqrt(2 / 75), "conv2": math.sqrt(2 / 400), "conv3": math.sqrt(2 / 800),
              "conv4": math.sqrt(2 / 1600), "fc1": math.sqrt(1 / 256), "fc2": math.sqrt(1 / 32)}


def layer(model, name):
    module = getattr(model, name, None)
    assert isinstance(module, nn.Module), f"CNN has no layer named {name} (keep the names conv1..conv4, fc1, fc2)"
    return module


def test_output_shape_for_a_batch_of_four():
    out = CNN()(torch.randn(4, 3, 32, 32))
    assert tuple(out.shape) == (4, 5), f"a batch of 4 images should give logits of shape (4, 5), got {tuple(out.shape)}"


def test_layer_output_sizes():
    model = CNN()
    seen = {}
    for name in LAYER_OUTPUTS:
        layer(model, name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
    model(torch.randn(2, 3, 32, 32))
    wrong = {n: seen.get(n) for n, shape in LAYER_OUTPUTS.items() if seen.get(n) != shape}
    assert not wrong, (f"layer outputs (channels, height, width) should be {LAYER_OUTPUTS}; wrong: {wrong}"
                       " (5x5 kernels, stride 2, padding 2)")


def test_parameters_per_layer():
    model = CNN()
    got = {n: sum(p.numel() for p in layer(model, n).parameters()) for n in LAYER_PARAMETERS}
    wrong = {n: c for n, c in got.items() if c != LAYER_PARAMETERS[n]}
    assert not wrong, f"parameters per layer should be {LAYER_PARAMETERS}; wrong: {wrong}"


def test_initial_weight_std():
    torch.manual_seed(553)
    pooled = {name: [] for name in WEIGHT_STD}
    for _ in range(10):  # ten initialisations: the small layers' std is then known to about 1%
        model = CNN()
        for name in WEIGHT_STD:
            pooled[name].append(layer(model, name).weight.detach().flatten())
    wrong = {}
    for name, expected in WEIGHT_STD.items():
        weights = torch.cat(pooled[name])
        std, mean = weights.std().item(), weights.mean().item()
        if abs(std - expected) > 0.05 * expected or abs(mean) > 0.1 * expected:
            wrong[name] = f"std {std:.4f} (expected {expected:.4f}), mean {mean:.4f}"
    assert not wrong, f"initial weights should be normal(0, variance 2/fan_in; 1/256 for fc1, 1/32 for fc2): {wrong}"


def test_biases_start_at_zero():
    model = CNN()
    nonzero = [n for n in WEIGHT_STD if layer(model, n).bias is None or layer(model, n).bias.abs().max().item() != 0]
    assert not nonzero, f"every layer needs a bias initialised to 0; not so for {nonzero}"


def test_count_parameters_counts_trainable_only():
    model = CNN()
    assert count_parameters(model) == 303397, f"count_parameters(CNN()) should be 303397, got {count_parameters(model)}"
    for p in model.conv4.parameters():
        p.requires_grad = False
    assert count_parameters(model) == 303397 - 204928, "count_parameters must skip frozen parameters (requires_grad False)"
