"""Colored MNIST environments (course version).

Three environments of up to 20,000 digits: two for training (colour agrees with the label
with probability 0.9 and 0.6), one for testing (0.1). Label: digit >= 5, flipped with
probability 0.2, so the best colour-blind classifier scores 80%.
"""

import os
from pathlib import Path

import numpy as np
import torch

import mnist_family
from mnist_family import SOURCES  # noqa: F401 - the --dataset choices of train.py and evaluate.py

ENV_SIZE = 20_000
LABEL_NOISE = 0.2
COLOUR_FLIP = (0.1, 0.4, 0.9)  # train, train, test
MEAN = (0.1307, 0.1307, 0.0)
STD = 0.3081
def generate(dataset, data_dir, seed, download=False):
    """Digits, labels, colour ids and environment ids, drawn from `seed`."""
    digits, classes = mnist_family.load(dataset, data_dir, "train", download)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits))
    size = min(ENV_SIZE, len(digits) // len(COLOUR_FLIP))
    parts = {k: [] for k in ("y", "z", "env")}
    for env, p_colour in enumerate(COLOUR_FLIP):
        idx = order[env * size:(env + 1) * size]
        preliminary = (classes[idx] >= 5).astype(np.int64)
        y = preliminary ^ (rng.random(size) < LABEL_NOISE)
        z = y ^ (rng.random(size) < p_colour)
        parts["y"].append(y.astype(np.int64))
        parts["z"].append(z.astype(np.int64))
        parts["env"].append(np.full(size, env, dtype=np.int64))
    # the environments' digits in one copy, in environment order (no per-environment copies joined)
    return {"images": digits[order[:len(COLOUR_FLIP) * size]], **{k: np.concatenate(v) for k, v in parts.items()}}


def cached(dataset, data_dir, seed, cache_dir="data_cache", download=False):
    """Generate once per (dataset, seed); later runs read the cache."""
    path = Path(cache_dir) / f"colored_{dataset}_seed{seed}.npz"
    if path.is_file():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}, True
    data = generate(dataset, data_dir, seed, download)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, path)
    return data, False


def to_inputs(images, z):
    """3x28x28 images, red (channel 0) when z = 1 else green, normalised and flattened to 2,352."""
    n = len(images)
    mean = torch.tensor(MEAN)
    x = torch.empty(n, 3, 28 * 28)
    digits = torch.from_numpy(np.ascontiguousarray(images).reshape(n, -1))
    red = torch.from_numpy(np.asarray(z)).bool()
    # Computed in place in x (the same operations as (digits / 255 - mean) / STD): a batch makes
    # no float copies of its digits beside x, so steps leave no scattered free memory behind.
    for channel, drawn in ((0, red), (1, ~red)):
        x[:, channel].copy_(digits).div_(255.0).sub_(mean[channel]).div_(STD)
        x[~drawn, channel] = (0 - mean[channel]) / STD
    x[:, 2] = (0 - mean[2]) / STD
    return x.reshape(n, -1)


class ColoredInputs:
    """The inputs of one split, built batch by batch from the uint8 digits and colours:
    `inputs[idx]` is `to_inputs` of those rows (the same floats), and a whole split never sits
    in memory as floats (the 60,000 would be 560 MB)."""

    def __init__(self, images, z):
        self.images, self.z = np.asarray(images), np.asarray(z)

    def __len__(self):
        return len(self.images)

    @property
    def shape(self):
        return (len(self.images), 3 * 28 * 28)

    def __getitem__(self, idx):
        idx = np.asarray(idx) if not isinstance(idx, slice) else idx
        return to_inputs(self.images[idx], self.z[idx])


def _pick(data, idx):
    idx = np.asarray(idx)
    return (ColoredInputs(data["images"][idx], data["z"][idx]), torch.from_numpy(data["y"][idx]).float(),
            torch.from_numpy(data["env"][idx]))


def split(data, seed, val_fraction=0.2):
    """Tensors for train (both training environments, 80%), validation (20%) and test."""
    rng = np.random.default_rng(seed + 1)
    out = {"train": [], "val": []}
    for e in (0, 1):
        idx = np.flatnonzero(data["env"] == e)
        rng.shuffle(idx)
        cut = int(len(idx) * (1 - val_fraction))
        out["train"].append(idx[:cut])
        out["val"].append(idx[cut:])
    return {"train": _pick(data, np.concatenate(out["train"])), "val": _pick(data, np.concatenate(out["val"])),
            "test": test_split(data)}


def test_split(data):
    """The published test environment alone (what evaluate.py needs; a third of the memory)."""
    return _pick(data, np.flatnonzero(data["env"] == 2))


def holdout_environments(held, size=5_000):
    """Two environments no training run can rebuild: digits from the dataset's test split
    (t10k, never used for training and absent where student code runs; grader.inside.trusted.held_out),
    colour flipped with probabilities drawn from its secret-seeded generator, one low (colour
    agrees with the label) and one high (it disagrees). A model that learnt the colour, or the
    published test environment, collapses on one of them; an invariant model does not."""
    digits, classes, rng = held
    order = rng.permutation(len(digits))
    size = min(size, len(digits) // 2)
    envs = {}
    for k, (name, low, high) in enumerate((("agree", 0.05, 0.2), ("disagree", 0.8, 0.95))):
        idx = order[k * size:(k + 1) * size]
        y = (classes[idx] >= 5).astype(np.int64) ^ (rng.random(size) < LABEL_NOISE)
        z = y ^ (rng.random(size) < rng.uniform(low, high))
        envs[name] = (ColoredInputs(digits[idx], z.astype(np.int64)), torch.from_numpy(y).float(), torch.zeros(size, dtype=torch.int64))
    return envs
