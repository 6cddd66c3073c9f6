"""The CNN every method trains (given), and its weights as plain arrays (no pickle; evaluate.py reads them
with grader.inside.trusted.load_state)."""

import numpy as np
import torch
from torch import nn


def make_network():
    return nn.Sequential(
        nn.Conv2d(10, 16, 5, stride=2, padding=2), nn.ReLU(),   # 16 x 14 x 14
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),   # 32 x 7 x 7
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def save_weights(net, path):
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})


def accuracy(net, images, channels, labels, to_inputs, batch=1000):
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            x = to_inputs(images[start:start + batch], channels[start:start + batch])
            correct += (net(x).argmax(1) == torch.as_tensor(labels[start:start + batch])).sum().item()
    return correct / len(labels)
