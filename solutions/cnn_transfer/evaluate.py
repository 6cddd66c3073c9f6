"""Scores an exported CNN on the validation folder, in a process that never imports the
student's code: the network comes from torch.export's file, the images straight from disk.

Usage: python evaluate.py --model weights/cnn [--data data/dogs]
"""

import argparse
import json
import os
from pathlib import Path

import torch
from torchvision import datasets, transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="folder written by train.py --export")
    parser.add_argument("--data", default=None, help="image folder (default: $DOGS_DATA or data/dogs)")
    args = parser.parse_args()
    folder = Path(args.model)
    if not (folder / "model.pt2").is_file():
        raise SystemExit(f"{folder / 'model.pt2'} not found: train.py --export {folder} did not finish")
    norm = json.loads((folder / "normalization.json").read_text())
    size = int(norm["image_size"])
    transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                    transforms.Normalize(norm["mean"], norm["std"])])
    root = Path(args.data or os.environ.get("DOGS_DATA") or "data/dogs")
    val = datasets.ImageFolder(str(root / "valid"), transform=transform)
    network = torch.export.load(str(folder / "model.pt2")).module()
    correct = total = 0
    with torch.no_grad():
        for images, labels in torch.utils.data.DataLoader(val, batch_size=64):
            logits = network(images)
            if logits.shape != (len(labels), len(val.classes)):
                raise SystemExit(f"the model returned shape {tuple(logits.shape)}, expected ({len(labels)}, {len(val.classes)})")
            correct += (logits.argmax(dim=1) == labels).sum().item()
            total += len(labels)
    print("Summary: " + repr({"val_accuracy": round(correct / total, 5), "val_images": total}))


if __name__ == "__main__":
    main()
