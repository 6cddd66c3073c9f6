"""Checker of the data pipeline's hidden tests (runs in the grader, never imports student code)."""

import numpy as np

from grader.verdict.checker import fmt

TRAIN_COLOURS = [(200, 40, 10), (180, 60, 30), (20, 220, 90), (40, 160, 250)]
VALID_COLOURS = [(0, 0, 0), (255, 255, 255)]
# Training and validation images pooled: what statistics that peek at validation give.
POOLED_MEAN = np.asarray(TRAIN_COLOURS + VALID_COLOURS, dtype=float).mean(axis=0) / 255.0


def _vector(value, size=3):
    return value if isinstance(value, np.ndarray) and value.shape == (size,) else None


def _within(got, want, atol=0.0, rtol=0.0):
    """True only for finite values within the tolerance (NaN never passes)."""
    return bool(np.all(np.abs(got - want) <= atol + rtol * np.abs(want)))


def check_statistics_of_training_images(got, expected):
    mean, std = _vector(got.get("mean")), _vector(got.get("std"))
    if mean is None or std is None:
        return f"mean and std need one value per channel (RGB), got {fmt(got.get('mean'))} and {fmt(got.get('std'))}"
    want_mean, want_std = expected["mean"], expected["std"]
    if not _within(mean, want_mean, atol=2e-3):
        peeked = ": validation images were counted" if _within(mean, POOLED_MEAN, atol=2e-3) else ""
        return f"per-channel mean should be {fmt(want_mean, 4)}, got {fmt(mean, 4)}{peeked}"
    if not _within(std, want_std, atol=2e-3, rtol=0.01):
        return f"per-channel std should be {fmt(want_std, 4)}, got {fmt(std, 4)}"
    return None


def check_transform_resizes_and_normalises(got, expected):
    shape = got.get("shape")
    if got.get("type") != "Tensor" or not isinstance(shape, np.ndarray) or tuple(shape) != (3, 32, 32):
        what = f"shape {fmt(shape)}" if isinstance(shape, np.ndarray) else f"a {got.get('type')}"
        return f"get_transforms(True) should give a 3x32x32 tensor, got {what}"
    means, want = _vector(got.get("channel_means")), expected["channel_means"]
    if means is None or not _within(means, want, atol=0.02):
        return f"normalised channel values should be {fmt(want, 4)}, got {fmt(got.get('channel_means'), 4)}"
    return None


def check_transform_without_resize_keeps_size(got, expected):
    shape = got.get("shape")
    if not isinstance(shape, np.ndarray) or tuple(shape) != tuple(expected["shape"]):
        return f"get_transforms(False) must not resize: expected shape {fmt(expected['shape'])}, got {fmt(shape)}"
    return None


def check_training_images_normalised_to_zero_mean_unit_std(got, expected):
    mean, std = _vector(got.get("mean")), _vector(got.get("std"))
    if mean is None or std is None or not (_within(mean, 0.0, atol=0.02) and _within(std, 1.0, atol=0.02)):
        return (f"normalised training images should have mean 0 and std 1 per channel, got "
                f"{fmt(got.get('mean'), 4)} / {fmt(got.get('std'), 4)}")
    return None
