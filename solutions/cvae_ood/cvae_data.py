"""Data for the conditional-VAE assignment (given; restored when you are graded).

32x32 grayscale images in [0, 1] (Fashion-MNIST, padded from 28x28). Five classes are
in-distribution (trouser, sandal, sneaker, bag, ankle boot); the other garments (T-shirt,
pullover, dress, coat) are out of distribution. Splits as in the course: 26,000 unlabeled and 2,000 labeled in-distribution
images, and two "representative" sets of 1,052 images each, about 20% of them OOD, labelled
0-4 for in-distribution classes and ANOMALY (5) for OOD.
"""

import json
import os
from pathlib import Path

import numpy as np
import torch

import mnist_family

ID_CLASSES = (1, 5, 7, 8, 9)
OOD_CLASSES = (0, 2, 3, 4)
CLASS_NAMES = ("trouser", "sandal", "sneaker", "bag", "ankle-boot")
ANOMALY = len(ID_CLASSES)
N_UNLABELED, N_LABELED, N_SET, N_SET_OOD = 26_000, 2_000, 1_052, 210


def load_fashion(data_dir=None):
    """Fashion-MNIST's 60,000 training images and labels, from data_dir ($CVAE_DATA or data),
    Debian's dataset-fashion-mnist, or a download when online (mnist_family.py)."""
    return mnist_family.load("fashion_mnist", data_dir or os.environ.get("CVAE_DATA") or "data", "train", download=True)


def to_tensor(images, chunk=2_000):
    """uint8 (N, 28, 28) -> float (N, 1, 32, 32) in [0, 1], zero-padded by 2 pixels. Filled a
    chunk at a time: no full-size float copy beside the result (the kernel stays under 1 GB)."""
    images = np.asarray(images)
    x = torch.zeros(len(images), 1, 32, 32)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].astype(np.float32) / 255.0
        x[start:start + chunk, 0, 2:30, 2:30] = torch.from_numpy(part)
    return x


class Images:
    """The uint8 images of a split, given as float tensors a batch at a time: `images[idx]` is
    `to_tensor` of those rows (the same floats as indexing the split's whole tensor), so the
    26,000 unlabeled images never sit in memory as floats (106 MB). `idx` is what indexes a tensor's
    first dimension: an index tensor or array, a slice or one position."""

    def __init__(self, images):
        self.images = np.asarray(images)

    def __len__(self):
        return len(self.images)

    @property
    def shape(self):
        return (len(self.images), 1, 32, 32)

    def __getitem__(self, idx):
        rows = self.images[idx.numpy() if isinstance(idx, torch.Tensor) else idx]
        return to_tensor(rows) if rows.ndim == 3 else to_tensor(rows[None])[0]


def load_splits(seed, data_dir=None):
    """{'unlabeled': x, 'labeled': (x, y), 'set1': (x, y), 'set2': (x, y)}; y in 0..4 or ANOMALY;
    x a float tensor (N, 1, 32, 32), the unlabeled images an `Images` (indexed a batch at a time)."""
    images, labels = load_fashion(data_dir)
    rng = np.random.default_rng(seed)
    in_dist = rng.permutation(np.flatnonzero(np.isin(labels, ID_CLASSES)))
    ood = rng.permutation(np.flatnonzero(np.isin(labels, OOD_CLASSES)))
    remap = {c: i for i, c in enumerate(ID_CLASSES)}
    n_id = N_SET - N_SET_OOD
    cuts = np.cumsum([N_UNLABELED, N_LABELED, n_id, n_id])
    unlabeled, labeled, id1, id2 = np.split(in_dist[:cuts[-1]], cuts[:-1])

    def labelled(idx):
        return to_tensor(images[idx]), torch.tensor([remap[c] for c in labels[idx]])

    def representative(id_idx, ood_idx):
        order = rng.permutation(len(id_idx) + len(ood_idx))
        idx = np.concatenate([id_idx, ood_idx])[order]
        y = np.concatenate([[remap[c] for c in labels[id_idx]], [ANOMALY] * len(ood_idx)])[order]
        return to_tensor(images[idx]), torch.tensor(y, dtype=torch.int64)

    return {"unlabeled": Images(images[unlabeled]), "labeled": labelled(labeled),
            "set1": representative(id1, ood[:N_SET_OOD]), "set2": representative(id2, ood[N_SET_OOD:2 * N_SET_OOD])}


GENERATOR_BATCH = 200  # images per class the judge asks for


def export_generator(generate_fn, model, latent_dim, folder, batch=GENERATOR_BATCH):
    """Writes generate_fn(model, labels, z) as a torch.export program taking (labels, z) for a
    batch of `batch` images: the grader's judge samples z and asks for classes itself,
    without importing the notebook. (A fixed batch: any plain generate exports.)"""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    class Generator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, labels, z):
            return generate_fn(self.model, labels, z).reshape(batch, 1, 32, 32)

    model.eval()
    example = (torch.arange(batch) % len(ID_CLASSES), torch.zeros(batch, latent_dim))
    torch.export.save(torch.export.export(Generator(), example), folder / "generator.pt2")
    (folder / "generator.json").write_text(json.dumps({"latent_dim": latent_dim, "batch": batch}))


SCORER_BATCH = 256  # images per call of the exported scorer


def export_scorer(anomaly_score_fn, classify_fn, model, folder, batch=SCORER_BATCH):
    """Writes the notebook's detector and classifier as one torch.export program taking a batch
    of `batch` images (N, 1, 32, 32) and returning (anomaly scores, predicted classes): the
    grader's evaluation (evaluate.py) scores images of its own with it, never importing the
    notebook."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    class Scorer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            scores = torch.as_tensor(anomaly_score_fn(self.model, x)).reshape(batch).float()
            classes = torch.as_tensor(classify_fn(self.model, x)).reshape(batch).long()
            return scores, classes

    model.eval()
    example = (torch.zeros(batch, 1, 32, 32),)
    torch.export.save(torch.export.export(Scorer(), example), folder / "scorer.pt2")
    (folder / "scorer.json").write_text(json.dumps({"batch": batch}))


def export_results(folder, scores_set1, scores_set2, threshold, classes_set2):
    """The notebook's own results as plain arrays (no pickle): the grader recomputes the metrics
    of set 2 from them with labels it rebuilds itself, and applies the threshold itself."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "results.npz", scores_set1=np.asarray(scores_set1, dtype=np.float64),
             scores_set2=np.asarray(scores_set2, dtype=np.float64), threshold=np.float64(threshold),
             classes_set2=np.asarray(classes_set2, dtype=np.int64))
