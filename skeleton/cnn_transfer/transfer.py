"""Transfer learning: ResNet-18 with its layers frozen and a new final layer for our classes.

Usage: python transfer.py --seed SEED [--epochs 1] [--weights resnet18.pth]
Images go in at their full 224x224 (get_transforms(if_resize=False)).
"""

import argparse

import torch
from torch import nn

from dataset import DogDataset
from model import count_parameters
from pretrained import resnet18_backbone
from train import fit, seed_everything


def load_pretrained(num_classes=5, weights_path=None):
    """ResNet-18 (see pretrained.py) with every parameter frozen and model.fc replaced by a new,
    trainable nn.Linear(512, num_classes). Freeze first, then replace: the other order
    freezes the new layer too."""
    model = resnet18_backbone(weights_path)
    # TODO: set requires_grad = False on every parameter, then model.fc = nn.Linear(model.fc.in_features, num_classes)
    raise NotImplementedError('TODO (transfer.py): set requires_grad = False on every parameter, then model.fc = nn.Linear(model.fc.in_features, num_classes)')
    return model


class ResizedDogDataset(DogDataset):
    def __init__(self, root=None, batch_size=4):
        super().__init__(root, batch_size=batch_size, if_resize=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="image folder (default: $DOGS_DATA or data/dogs)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--weights", default=None, help="ResNet-18 ImageNet state_dict (else $RESNET18_WEIGHTS or torchvision)")
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    seed_everything(args.seed)
    data = ResizedDogDataset(args.data, batch_size=args.batch_size)
    model = load_pretrained(len(data.classes), args.weights)
    print(f"ResNet-18 with {count_parameters(model)} trainable parameters")
    history = fit(model, data, args.epochs, args.seed)
    last = history[-1] if history else {}
    print("Summary: " + repr({"seed": args.seed, "trainable_parameters": count_parameters(model),
                              "val_accuracy": last.get("val_accuracy")}))


if __name__ == "__main__":
    main()
