"""Hidden tests for the data pipeline: training statistics and transforms."""

import numpy as np
import pytest
import torch
from PIL import Image

from dataset import DogDataset, compute_train_statistics

TRAIN_COLOURS = {"a": [(200, 40, 10), (180, 60, 30)], "b": [(20, 220, 90), (40, 160, 250)]}
VALID_COLOURS = {"a": [(0, 0, 0)], "b": [(255, 255, 255)]}


def write_folder(root, colours, size=224):
    for label, items in colours.items():
        (root / label).mkdir(parents=True)
        for i, colour in enumerate(items):
            Image.new("RGB", (size, size), colour).save(root / label / f"{i}.png")


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "train", TRAIN_COLOURS)
    write_folder(tmp_path / "valid", VALID_COLOURS)
    return tmp_path


def expected_stats(colours):
    pixels = np.array([c for items in colours.values() for c in items], dtype=np.float64) / 255.0
    return pixels.mean(axis=0), pixels.std(axis=0)


def test_statistics_of_training_images(folder):
    mean, std = compute_train_statistics(folder / "train")
    want_mean, want_std = expected_stats(TRAIN_COLOURS)
    assert len(mean) == 3 and len(std) == 3, "mean and std need one value per channel (RGB)"
    mixed_mean, _ = expected_stats({**{k + "t": v for k, v in TRAIN_COLOURS.items()}, **VALID_COLOURS})
    assert np.allclose(mean, want_mean, atol=2e-3), (
        f"per-channel mean should be {np.round(want_mean, 4).tolist()}, got {np.round(mean, 4).tolist()}"
        + (": validation images were counted" if np.allclose(mean, mixed_mean, atol=2e-3) else ""))
    assert np.allclose(std, want_std, rtol=0.01, atol=2e-3), (
        f"per-channel std should be {np.round(want_std, 4).tolist()}, got {np.round(std, 4).tolist()}")


def plain_dataset(mean, std):
    data = DogDataset.__new__(DogDataset)  # get_transforms alone, with known statistics
    data.mean, data.std = mean, std
    return data


def test_transform_resizes_and_normalises():
    mean, std = [0.2, 0.4, 0.6], [0.1, 0.2, 0.3]
    transform = plain_dataset(mean, std).get_transforms(True)
    image = Image.new("RGB", (224, 224), (51, 153, 204))  # 0.2, 0.6, 0.8
    out = transform(image)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (3, 32, 32), (
        f"get_transforms(True) should give a 3x32x32 tensor, got {getattr(out, 'shape', type(out))}")
    want = torch.tensor([(0.2 - 0.2) / 0.1, (0.6 - 0.4) / 0.2, (0.8 - 0.6) / 0.3])
    got = out.mean(dim=(1, 2))
    assert torch.allclose(got, want, atol=0.02), f"normalised channel values should be {want.tolist()}, got {got.tolist()}"


def test_transform_without_resize_keeps_size():
    transform = plain_dataset([0.5] * 3, [0.25] * 3).get_transforms(False)
    out = transform(Image.new("RGB", (224, 224), (128, 128, 128)))
    assert tuple(out.shape) == (3, 224, 224), f"get_transforms(False) must not resize, got {tuple(out.shape)}"


def test_training_images_normalised_to_zero_mean_unit_std(folder):
    data = DogDataset(folder)
    batch = torch.stack([image for image, _ in data.train_dataset])
    mean, std = batch.mean(dim=(0, 2, 3)), batch.std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.zeros(3), atol=0.02) and torch.allclose(std, torch.ones(3), atol=0.02), (
        f"normalised training images should have mean 0 and std 1 per channel, got {mean.tolist()} / {std.tolist()}")
