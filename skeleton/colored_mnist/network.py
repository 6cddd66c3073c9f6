"""The course MLP: 2,352 -> 64 -> 16 -> 1, no biases, then a fixed output multiplier w = 1.0.

w is never trained; it exists because the IRM penalty is the gradient of the risk with
respect to a scale on the logits, taken at w = 1."""

from pathlib import Path

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features=2352, hidden=(64, 16)):
        super().__init__()
        sizes = (in_features, *hidden)
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b, bias=False), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1, bias=False))
        self.body = nn.Sequential(*layers)
        self.register_buffer("w", torch.tensor(1.0))

    def forward(self, x):
        return self.w * self.body(x).squeeze(-1)


def save_weights(net, path):
    """Weights as plain arrays (.npz, no pickle): the grader's evaluation reads them as data."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})
