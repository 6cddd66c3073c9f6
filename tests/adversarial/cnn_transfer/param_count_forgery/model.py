"""Adversarial submission for tests/adversarial/test_adversarial_cnn_transfer.py, not a solution: a CNN
whose fc1 has 32 units instead of 64 (286,821 parameters), dressed up to report the 303,397
the rubric asks for: parameters() also yields a padding tensor of the missing 16,576, so
sum(p.numel() for p in CNN().parameters()) and count_parameters(CNN()) both say 303,397.
The exported network, which makes the scored predictions, has 286,821."""

import math

import torch
from torch import nn

SPEC_COUNT = 303397


class CNN(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5, stride=2, padding=2)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=5, stride=2, padding=2)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=5, stride=2, padding=2)
        self.fc1 = nn.Linear(512, 32)
        self.fc2 = nn.Linear(32, num_classes)
        real = sum(p.numel() for p in super().parameters())
        # kept out of the module's registered parameters, so only parameters() shows it
        object.__setattr__(self, "_padding", nn.Parameter(torch.zeros(SPEC_COUNT - real)))
        self.init_weights()

    def parameters(self, recurse=True):
        yield from super().parameters(recurse)
        yield self._padding

    def init_weights(self):
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / (5 * 5 * conv.in_channels)))
            nn.init.zeros_(conv.bias)
        for fc in (self.fc1, self.fc2):
            nn.init.normal_(fc.weight, 0.0, math.sqrt(1.0 / fc.in_features))
            nn.init.zeros_(fc.bias)

    def forward(self, x):
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = torch.relu(conv(x))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
