"""Spurious-channel digits.

Each 28x28 digit is drawn in one of 10 channels of a 10x28x28 input (the others are zero).
Labels are noisy: with probability LABEL_NOISE a label is replaced by a different, random
class, in every split, so no classifier of the digit's shape can beat about 1 - LABEL_NOISE.
In training the channel equals the (noisy) label with probability CHANNEL_AGREEMENT and is
another channel otherwise; in validation and test the channel is uniform. A model that reads
the channel is right in training and near chance at test.
"""

import numpy as np
import torch

import mnist_family
from mnist_family import SOURCES  # noqa: F401 - the --dataset choices of train.py and evaluate.py

N_CLASSES = 10
LABEL_NOISE = 0.23
CHANNEL_AGREEMENT = 0.9
N_TRAIN, N_VAL, N_TEST = 60_000, 100, 2_000  # as many training digits as the source has, less val and test
def _noisy(labels, rng):
    flip = rng.random(len(labels)) < LABEL_NOISE
    other = (labels + rng.integers(1, N_CLASSES, size=len(labels))) % N_CLASSES
    return np.where(flip, other, labels)


def generate(dataset, data_dir, seed, download=False):
    """{split: (images uint8 N x 28 x 28, channels int64 N, labels int64 N, clean int64 N)}."""
    images, clean = mnist_family.load(dataset, data_dir, "train", download)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(clean))
    n_train = min(N_TRAIN, len(order) - N_VAL - N_TEST)
    parts = {"train": order[:n_train], "val": order[n_train:n_train + N_VAL],
             "test": order[n_train + N_VAL:n_train + N_VAL + N_TEST]}
    splits = {}
    for name, idx in parts.items():
        labels = _noisy(clean[idx], rng)
        if name == "train":
            agree = rng.random(len(idx)) < CHANNEL_AGREEMENT
            other = (labels + rng.integers(1, N_CLASSES, size=len(idx))) % N_CLASSES
            channels = np.where(agree, labels, other)
        else:
            channels = rng.integers(0, N_CLASSES, size=len(idx))
        splits[name] = (images[idx], channels.astype(np.int64), labels.astype(np.int64), clean[idx])
    return splits


def holdout_split(held):
    """The grader's test data: the dataset's own test split (t10k, never used for training and
    absent where student code runs; grader.inside.trusted.held_out), with noisy labels and uniform
    channels drawn from its secret-seeded generator: (images, channels, labels, clean), as
    generate() gives a split."""
    digits, clean, rng = held
    labels = _noisy(clean, rng)
    channels = rng.integers(0, N_CLASSES, size=len(clean))
    return digits, channels.astype(np.int64), labels.astype(np.int64), clean


def to_inputs(images, channels):
    """uint8 images (N, 28, 28) and channels (N,) -> float tensor (N, 10, 28, 28) in [0, 1]."""
    images = torch.as_tensor(np.asarray(images), dtype=torch.float32) / 255.0
    x = torch.zeros(len(images), N_CLASSES, 28, 28)
    x[torch.arange(len(images)), torch.as_tensor(np.asarray(channels))] = images
    return x
