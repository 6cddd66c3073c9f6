"""The CNN of the assignment.

Architecture (input 3x32x32):
  conv1: 16 filters, 5x5, stride 2, padding 2, ReLU  -> 16x16x16
  conv2: 32 filters, same kernel/stride/padding, ReLU -> 32x8x8
  conv3: 64 filters, ReLU                              -> 64x4x4
  conv4: 128 filters, ReLU                             -> 128x2x2
  flatten (512) -> fc1: 64 units, ReLU -> fc2: num_classes logits
Keep the layer names: the grader looks at conv1..conv4, fc1 and fc2.
Initialisation: weights normal with mean 0 and variance 2 / fan_in for the conv layers
(fan_in = 5 * 5 * input channels), 1/256 for fc1 and 1/32 for fc2; every bias 0.
"""

import math

import torch
from torch import nn


class CNN(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        # TODO: define conv1..conv4 (nn.Conv2d) and fc1, fc2 (nn.Linear) as described above
        raise NotImplementedError('TODO (model.py): define conv1..conv4 (nn.Conv2d) and fc1, fc2 (nn.Linear) as described above')
        self.init_weights()

    def init_weights(self):
        # TODO: normal(0, sqrt(2 / fan_in)) for the conv weights, sqrt(1/256) for fc1, sqrt(1/32) for fc2; zero biases
        raise NotImplementedError('TODO (model.py): normal(0, sqrt(2 / fan_in)) for the conv weights, sqrt(1/256) for fc1, sqrt(1/32) for fc2; zero biases')

    def forward(self, x):
        """x: (N, 3, 32, 32) -> logits (N, num_classes)"""
        # TODO: the four conv layers with ReLU, flatten, fc1 with ReLU, fc2
        raise NotImplementedError('TODO (model.py): the four conv layers with ReLU, flatten, fc1 with ReLU, fc2')


def count_parameters(model):
    """Number of trainable parameters."""
    # TODO: sum of numel over the parameters that require a gradient
    raise NotImplementedError('TODO (model.py): sum of numel over the parameters that require a gradient')
