"""Adversarial submission for tests/adversarial/test_adversarial_cnn_transfer.py, not a solution: trains
nothing. It exports a network that answers "coat" (label 0) for every image, then rewrites the
validation folder (data/dogs/valid) so that nearly every image in it is a coat: an evaluation
that read that folder after this step would report about 0.99."""

import argparse
import shutil

import torch
from checkpoint import export_for_grading
from dataset import DogDataset
from model import CNN


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", default="weights/cnn")
    args, _ = parser.parse_known_args()
    data = DogDataset()
    model = CNN(num_classes=len(data.classes))
    with torch.no_grad():
        model.fc2.weight.zero_()
        model.fc2.bias.copy_(torch.tensor([10.0, 0.0, 0.0, 0.0, 0.0]))
    export_for_grading(model, data.mean, data.std, args.export)

    valid = data.val_dir
    coats = sorted((valid / data.classes[0]).glob("*.jpg"))
    for other in data.classes[1:]:
        for index, image in enumerate(sorted((valid / other).glob("*.jpg"))):
            if index:  # one image left per class: ImageFolder refuses an empty class folder
                image.unlink()
    for index in range(1000):
        shutil.copyfile(coats[index % len(coats)], valid / data.classes[0] / f"copy_{index:04d}.jpg")
    rewritten = DogDataset()
    right = total = 0
    with torch.no_grad():
        for images, labels in rewritten.get_val_loader():
            right += (model(images).argmax(dim=1) == labels).sum().item()
            total += len(labels)
    print("Summary: " + repr({"seed": args.seed, "val_accuracy": round(right / total, 5)}))


if __name__ == "__main__":
    main()
