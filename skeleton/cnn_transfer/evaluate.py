"""Scores an exported CNN in a process that never imports the student's code: the network comes
from torch.export's file, the images from disk or from held-out data.

Usage: python evaluate.py --model weights/cnn [--holdout DIR [--holdout_images FILE] | --data data/dogs]
       python evaluate.py --holdout DIR --save_holdout FILE   (the grader's once-per-course build of them)

--holdout DIR: a folder with Fashion-MNIST's test split (t10k-images/labels-idx*-ubyte[.gz]).
  The evaluation images are built from it exactly as make_data.py builds the training folders
  (the same five garments, tint, 224x224 JPEG, then the exported model's own 32x32 resize and
  normalisation), 200 per class. The grader passes this; the test split is not in the handout
  and no student step ever sees it, so nothing a training run writes can change the score.
Without it: the validation folder of --data (default $DOGS_DATA, else data/dogs), e.g. the
  course's photos, or your own check of what training reported.

Prints a Summary with the accuracy and the number of parameters of the exported program (the
network that made these predictions).
"""

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from make_data import DOG_CLASSES, JPEG_QUALITY, tinted
from PIL import Image
from torchvision import datasets, transforms

from grader.inside import trusted

IMAGE_SIZE = 32
HOLDOUT_PER_CLASS = 200  # of the test split's 1,000 per garment: accuracy known to about +-0.015
HOLDOUT_TINT_SEED = 9553  # fixed: every submission is scored on the same images


def load_export(folder):
    """The exported program, its input normalisation and its parameter count; one-line errors."""
    program = trusted.load_program(folder / "model.pt2", what=f"train.py --export {folder} did not finish")
    norm_file = folder / "normalization.json"
    norm = trusted.load_json(norm_file, what=f"train.py --export {folder} did not finish", kind="normalisation file")
    try:
        mean, std = [float(v) for v in norm["mean"]], [float(v) for v in norm["std"]]
        size = int(norm.get("image_size", IMAGE_SIZE))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        trusted.fail(f"{norm_file} is not a valid normalisation file ({type(exc).__name__}: {exc})")
    if len(mean) != 3 or len(std) != 3 or not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
        trusted.fail(f"{norm_file}: mean and std need three finite values each, std > 0 (got {mean}, {std})")
    if size != IMAGE_SIZE:
        trusted.fail(f"{norm_file}: image_size must be {IMAGE_SIZE}, got {size}")
    return program.module(), transforms.Normalize(mean, std), trusted.parameter_count(program)


RESIZE = transforms.Compose([transforms.Resize((IMAGE_SIZE, IMAGE_SIZE)), transforms.ToTensor()])


def as_training_image(garment, rng):
    """One 28x28 garment as the network sees a training image: make_data.py's tint and 224x224
    JPEG (quality 90), opened as ImageFolder's loader opens it, resized to 32x32, in [0, 1]."""
    buffer = io.BytesIO()
    tinted(garment, rng).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return RESIZE(image.convert("RGB"))


def holdout_images(folder):
    """(images, labels, classes) built from the test split the way make_data.py builds
    data/dogs; labels are ImageFolder's (class folder names in sorted order)."""
    images, labels, rng = trusted.held_out(folder, HOLDOUT_TINT_SEED)  # the tint: the same for every submission
    names = sorted(DOG_CLASSES.values())
    chosen = [(i, names.index(name)) for fashion_class, name in DOG_CLASSES.items()
              for i in np.flatnonzero(labels == fashion_class)[:HOLDOUT_PER_CLASS]]
    if len(chosen) != HOLDOUT_PER_CLASS * len(names):
        trusted.fail(f"{folder}: the test split has fewer than {HOLDOUT_PER_CLASS} images of some garment")
    tensors = [as_training_image(images[index], rng) for index, _ in chosen]
    return torch.stack(tensors), torch.tensor([label for _, label in chosen]), len(names)


def folder_images(root):
    val = datasets.ImageFolder(str(Path(root) / "valid"), transform=RESIZE)
    pairs = [val[i] for i in range(len(val))]
    return torch.stack([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs]), len(val.classes)


def main():
    parser = trusted.parser(__doc__, seed=False, secret_seed=False)
    parser.add_argument("--model", help="folder written by train.py --export")
    parser.add_argument("--data", default=None, help="image folder (default: $DOGS_DATA or data/dogs)")
    parser.add_argument("--save_holdout", metavar="FILE", help="write the held-out images (.npz) and stop: they are "
                        "the same for every submission, so the grader builds them once (a trusted asset)")
    parser.add_argument("--holdout_images", metavar="FILE", help="the held-out images --save_holdout wrote, "
                        "instead of building them again from --holdout")
    args = trusted.parse_args(parser)
    if args.save_holdout:
        if not args.holdout:
            parser.error("--save_holdout needs --holdout")
        images, labels, classes = holdout_images(args.holdout)
        np.savez(args.save_holdout, images=images.numpy(), labels=labels.numpy(), classes=np.int64(classes))
        print(f"held-out images: {len(labels)} in {classes} classes, written to {args.save_holdout}")
        return
    if not args.model:
        parser.error("--model is required")
    network, normalize, parameters = load_export(Path(args.model))
    if args.holdout and args.holdout_images:
        saved = trusted.load_arrays(args.holdout_images, ["images", "labels", "classes"],
                                    what="build it with --save_holdout")
        images, labels, classes = torch.from_numpy(saved["images"]), torch.from_numpy(saved["labels"]), int(saved["classes"])
    elif args.holdout:
        images, labels, classes = holdout_images(args.holdout)
    else:
        root = Path(args.data or os.environ.get("DOGS_DATA") or "data/dogs")
        if not (root / "valid").is_dir():
            trusted.fail(f"{root / 'valid'} is not a folder: give --data or --holdout")
        images, labels, classes = folder_images(root)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 100):
            batch = normalize(images[start:start + 100])
            try:
                logits = network(batch)
            except Exception as exc:  # noqa: BLE001 - a network that fails on a batch is one line
                trusted.fail(f"the exported model failed on a batch of shape {tuple(batch.shape)} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})")
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(batch), classes):
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                trusted.fail(f"the model returned {shape}, expected ({len(batch)}, {classes})")
            correct += (logits.argmax(dim=1) == labels[start:start + 100]).sum().item()
    trusted.print_summary({"accuracy": round(correct / len(labels), 5), "images": len(labels),
                           "parameters": parameters, "heldout": int(bool(args.holdout))})


if __name__ == "__main__":
    trusted.run(main)
