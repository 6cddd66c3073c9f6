"""Runner of the data pipeline's hidden tests: training statistics and transforms on small
image folders of flat colours written here (their exact statistics are known)."""

import tempfile
from pathlib import Path

from grader.inside.runner_kit import case

TRAIN_COLOURS = {"a": [(200, 40, 10), (180, 60, 30)], "b": [(20, 220, 90), (40, 160, 250)]}
VALID_COLOURS = {"a": [(0, 0, 0)], "b": [(255, 255, 255)]}


def _write_folder(root, colours, size=224):
    from PIL import Image

    for label, items in colours.items():
        (root / label).mkdir(parents=True)
        for i, colour in enumerate(items):
            Image.new("RGB", (size, size), colour).save(root / label / f"{i}.png")


def _folder():
    root = Path(tempfile.mkdtemp(prefix="probe-folder-"))
    _write_folder(root / "train", TRAIN_COLOURS)
    _write_folder(root / "valid", VALID_COLOURS)
    return root


def _plain_dataset(mean, std):
    from dataset import DogDataset

    data = DogDataset.__new__(DogDataset)  # get_transforms alone, with known statistics
    data.mean, data.std = mean, std
    return data


@case
def statistics_of_training_images():
    from dataset import compute_train_statistics

    mean, std = compute_train_statistics(_folder() / "train")
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


@case
def transform_resizes_and_normalises():
    import torch
    from PIL import Image

    transform = _plain_dataset([0.2, 0.4, 0.6], [0.1, 0.2, 0.3]).get_transforms(True)
    out = transform(Image.new("RGB", (224, 224), (51, 153, 204)))  # 0.2, 0.6, 0.8
    if not isinstance(out, torch.Tensor):
        return {"type": type(out).__name__}
    return {"type": "Tensor", "shape": list(out.shape), "channel_means": out.double().mean(dim=(1, 2))}


@case
def transform_without_resize_keeps_size():
    from PIL import Image

    out = _plain_dataset([0.5] * 3, [0.25] * 3).get_transforms(False)(Image.new("RGB", (224, 224), (128, 128, 128)))
    return {"shape": list(getattr(out, "shape", []))}


@case
def training_images_normalised_to_zero_mean_unit_std():
    import torch
    from dataset import DogDataset

    data = DogDataset(_folder())
    batch = torch.stack([image for image, _ in data.train_dataset]).double()
    return {"mean": batch.mean(dim=(0, 2, 3)), "std": batch.std(dim=(0, 2, 3))}
