"""Colored MNIST environments (course version).

Three environments of up to 20,000 digits: two for training (colour agrees with the label
with probability 0.9 and 0.6), one for testing (0.1). Label: digit >= 5, flipped with
probability 0.2, so the best colour-blind classifier scores 80%.
"""

import gzip
import os
from pathlib import Path

import numpy as np
import torch

ENV_SIZE = 20_000
LABEL_NOISE = 0.2
COLOUR_FLIP = (0.1, 0.4, 0.9)  # train, train, test
MEAN = (0.1307, 0.1307, 0.0)
STD = 0.3081
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
SOURCES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _read_idx(path):
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read_raw(folder):
    for suffix in ("", ".gz"):
        images, labels = folder / f"train-images-idx3-ubyte{suffix}", folder / f"train-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            return _read_idx(images), _read_idx(labels).astype(np.int64)
    return None


def load_digits(dataset, data_dir, download=False):
    """The 60,000 training digits of MNIST or Fashion-MNIST as (uint8 N x 28 x 28, int labels).

    Reads torchvision's raw layout under data_dir (with torchvision when it is installed),
    downloading it when allowed and online; for Fashion-MNIST it also reads Debian's
    dataset-fashion-mnist package."""
    if dataset not in SOURCES:
        raise SystemExit(f"unknown dataset {dataset!r}: choose one of {', '.join(SOURCES)}")
    try:
        from torchvision import datasets
    except ImportError:  # the grading sandbox has torch's CPU build, beside which torchvision does not import
        datasets = None
    raw = Path(data_dir) / SOURCES[dataset] / "raw"
    if datasets is not None:
        try:
            ds = getattr(datasets, SOURCES[dataset])(root=str(data_dir), train=True, download=False)
            return ds.data.numpy(), ds.targets.numpy().astype(np.int64)
        except RuntimeError:  # not in data_dir
            pass
    found = _read_raw(raw) or (_read_raw(DEBIAN_FASHION) if dataset == "fashion_mnist" else None)
    if found is not None:
        return found
    if download and datasets is not None:
        ds = getattr(datasets, SOURCES[dataset])(root=str(data_dir), train=True, download=True)
        return ds.data.numpy(), ds.targets.numpy().astype(np.int64)
    raise SystemExit(f"{dataset} not found under {raw} (pass --download when online, or --data_dir)")


def generate(dataset, data_dir, seed, download=False):
    """Digits, labels, colour ids and environment ids, drawn from `seed`."""
    digits, classes = load_digits(dataset, data_dir, download)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits))
    size = min(ENV_SIZE, len(digits) // len(COLOUR_FLIP))
    parts = {k: [] for k in ("images", "y", "z", "env")}
    for env, p_colour in enumerate(COLOUR_FLIP):
        idx = order[env * size:(env + 1) * size]
        preliminary = (classes[idx] >= 5).astype(np.int64)
        y = preliminary ^ (rng.random(size) < LABEL_NOISE)
        z = y ^ (rng.random(size) < p_colour)
        parts["images"].append(digits[idx])
        parts["y"].append(y.astype(np.int64))
        parts["z"].append(z.astype(np.int64))
        parts["env"].append(np.full(size, env, dtype=np.int64))
    return {k: np.concatenate(v) for k, v in parts.items()}


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
    """3x28x28 images, red (channel 0) when z = 1 else green, normalised and flattened to 2,352.
    Built in place: no full-size intermediate copies (60,000 inputs are 560 MB of floats)."""
    n = len(images)
    mean = torch.tensor(MEAN)
    x = torch.empty(n, 3, 28 * 28)
    for channel in range(3):
        x[:, channel] = (0 - mean[channel]) / STD
    digits = torch.from_numpy(np.ascontiguousarray(images).reshape(n, -1)).float() / 255.0
    red = torch.from_numpy(np.asarray(z)).bool()
    x[red, 0] = (digits[red] - mean[0]) / STD
    x[~red, 1] = (digits[~red] - mean[1]) / STD
    return x.reshape(n, -1)


def _pick(data, idx):
    idx = np.asarray(idx)
    return (to_inputs(data["images"][idx], data["z"][idx]), torch.from_numpy(data["y"][idx]).float(),
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


def holdout_environments(folder, secret_seed, size=5_000):
    """Two environments no training run can rebuild: digits from the dataset's test split
    (t10k, never used for training and absent where student code runs), colour flipped with
    probabilities drawn from a secret seed, one low (colour agrees with the label) and one
    high (it disagrees). A model that learnt the colour, or the published test environment,
    collapses on one of them; an invariant model does not."""
    folder = Path(folder)
    found = None
    for suffix in ("", ".gz"):
        images, labels = folder / f"t10k-images-idx3-ubyte{suffix}", folder / f"t10k-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            found = _read_idx(images), _read_idx(labels).astype(np.int64)
            break
    if found is None:
        raise SystemExit(f"held-out digits (t10k-*) not found in {folder}")
    digits, classes = found
    rng = np.random.default_rng(secret_seed)
    order = rng.permutation(len(digits))
    size = min(size, len(digits) // 2)
    envs = {}
    for k, (name, low, high) in enumerate((("agree", 0.05, 0.2), ("disagree", 0.8, 0.95))):
        idx = order[k * size:(k + 1) * size]
        y = (classes[idx] >= 5).astype(np.int64) ^ (rng.random(size) < LABEL_NOISE)
        z = y ^ (rng.random(size) < rng.uniform(low, high))
        envs[name] = (to_inputs(digits[idx], z.astype(np.int64)), torch.from_numpy(y).float(), torch.zeros(size, dtype=torch.int64))
    return envs
