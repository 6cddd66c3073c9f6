"""Image folders as PyTorch data: the 5-breed dog folder and the imbalanced cat/dog folder.

A folder holds train/<class>/*.jpg and valid/<class>/*.jpg (torchvision's ImageFolder layout;
labels are the class folder names in sorted order)."""

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

IMAGE_SIZE = 32


def compute_train_statistics(train_dir, image_size=IMAGE_SIZE):
    """Per-channel mean and standard deviation (lists of 3 floats, RGB) of the training images,
    resized to image_size x image_size and scaled to [0, 1] by ToTensor. Only the training
    images count: statistics that peek at validation images leak them into training."""
    # TODO: load train_dir with Resize + ToTensor, stack every image, mean and std over (images, height, width)
    raise NotImplementedError('TODO (dataset.py): load train_dir with Resize + ToTensor, stack every image, mean and std over (images, height, width)')


class DogDataset:
    """The dog-breed folder: DOGS_DATA, or data/dogs (built by make_data.py)."""

    default_root = "data/dogs"
    env_var = "DOGS_DATA"

    def __init__(self, root=None, batch_size=4, if_resize=True):
        root = Path(root or os.environ.get(self.env_var) or self.default_root)
        self.train_dir, self.val_dir = root / "train", root / "valid"
        for folder in (self.train_dir, self.val_dir):
            if not folder.is_dir():
                raise SystemExit(f"{folder} is not a folder: run make_data.py first, or set {self.env_var}")
        self.batch_size = batch_size
        self.mean, self.std = compute_train_statistics(self.train_dir)
        transform = self.get_transforms(if_resize)
        self.train_dataset = datasets.ImageFolder(str(self.train_dir), transform=transform)
        self.val_dataset = datasets.ImageFolder(str(self.val_dir), transform=transform)
        self.classes = self.train_dataset.classes

    def get_transforms(self, if_resize=True):
        """Resize to IMAGE_SIZE x IMAGE_SIZE (only when if_resize; ResNet-18 takes the full 224),
        ToTensor, then Normalize with self.mean and self.std."""
        # TODO: a transforms.Compose of [Resize((32, 32)) if if_resize], ToTensor(), Normalize(self.mean, self.std)
        raise NotImplementedError('TODO (dataset.py): a transforms.Compose of [Resize((32, 32)) if if_resize], ToTensor(), Normalize(self.mean, self.std)')

    def get_train_loader(self, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(self.train_dataset, batch_size=self.batch_size, shuffle=True, generator=generator)

    def get_val_loader(self):
        return DataLoader(self.val_dataset, batch_size=64, shuffle=False)


class DogCatDataset(DogDataset):
    """The imbalanced cat/dog folder (cat = 0, dog = 1): DOGCAT_DATA, or data/dogcat."""

    default_root = "data/dogcat"
    env_var = "DOGCAT_DATA"
