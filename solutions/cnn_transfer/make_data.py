"""Builds the offline stand-in for the course's image folders, deterministically.

The course hands out photos: `dogs/` (5 dog breeds, about 800 JPGs of 224x224x3 split 75/25
into train/ and valid/) and `dogcat/` (cats and dogs, 200/10 training and 100/10 validation
images: dogs are rare). Offline we build folders of the same shape from Fashion-MNIST: each
28x28 garment is scaled to 224x224 and tinted with a random colour, so the three channels
differ and per-channel statistics matter. The same command always writes the same files.

Usage: python make_data.py --dataset fashion_mnist [--data_dir DIR] [--out data]
       (--dataset course: the real folders are under --data_dir; nothing is built)
"""

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

import mnist_family

GENERATOR_SEED = 553  # fixed: every student gets the same images, like the course's photos
SIZE = 224
# Fashion-MNIST class index -> folder name. ImageFolder sorts folder names: labels 0..4.
DOG_CLASSES = {0: "tshirt", 2: "pullover", 3: "dress", 4: "coat", 6: "shirt"}  # the five most confusable garments
DOG_TRAIN, DOG_VALID = 120, 40  # per class: 600 / 200 images, a 75/25 split
DOGCAT_CLASSES = {7: "cat", 9: "dog"}  # cat = label 0 (common), dog = label 1 (rare, positive)
DOGCAT_COUNTS = {"train": {"cat": 200, "dog": 10}, "valid": {"cat": 100, "dog": 10}}
JPEG_QUALITY = 90  # evaluate.py builds its held-out images through the same JPEG round trip


def tinted(image, rng):
    """A 28x28 uint8 image as a 224x224 RGB picture: garment in one colour, background in another."""
    fg = rng.uniform(0.45, 1.0, size=3)
    bg = rng.uniform(0.0, 0.35, size=3)
    big = np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255.0
    rgb = big[..., None] * fg + (1.0 - big[..., None]) * bg
    return Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB")


def write_folder(root, plan, images, labels, rng):
    """plan: {split: {folder name: (fashion class, count)}}; images are drawn without reuse."""
    order = rng.permutation(len(labels))
    pools = {c: iter(order[labels[order] == c]) for c in np.unique(labels)}
    for split, classes in plan.items():
        for name, (fashion_class, count) in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                tinted(images[next(pools[fashion_class])], rng).save(folder / f"{name}_{i:04d}.jpg", quality=JPEG_QUALITY)


def build(out, data_dir):
    images, labels = mnist_family.load("fashion_mnist", data_dir, "train", download=True)
    out = Path(out)
    for name in ("dogs", "dogcat"):
        shutil.rmtree(out / name, ignore_errors=True)
    rng = np.random.default_rng(GENERATOR_SEED)
    write_folder(out / "dogs", {"train": {n: (c, DOG_TRAIN) for c, n in DOG_CLASSES.items()},
                                "valid": {n: (c, DOG_VALID) for c, n in DOG_CLASSES.items()}}, images, labels, rng)
    by_name = {n: c for c, n in DOGCAT_CLASSES.items()}
    write_folder(out / "dogcat", {split: {n: (by_name[n], k) for n, k in counts.items()}
                                  for split, counts in DOGCAT_COUNTS.items()}, images, labels, rng)
    print(f"wrote {out / 'dogs'} and {out / 'dogcat'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["fashion_mnist", "course"], default="fashion_mnist")
    parser.add_argument("--data_dir", default="data", help="where Fashion-MNIST (or the course's folders) lie")
    parser.add_argument("--out", default="data", help="folder that receives dogs/ and dogcat/")
    args = parser.parse_args()
    if args.dataset == "course":
        for name in ("dogs", "dogcat"):
            if not (Path(args.data_dir) / name / "train").is_dir():
                raise SystemExit(f"course data missing: {Path(args.data_dir) / name / 'train'} is not a folder")
        print(f"using the course's folders under {args.data_dir}")
        return
    build(args.out, args.data_dir)


if __name__ == "__main__":
    main()
