"""Class imbalance: cats are common, dogs rare (200/10 training images). Dog (label 1) is the
positive class. Trains the CNN twice, with plain and with weighted cross-entropy (weight 20
on the rare class), and reports per-class accuracy, precision, recall and F1 for each.

Usage: python imbalance.py --seed SEED [--epochs 10] [--data data/dogcat]
"""

import argparse

import torch
from torch import nn

from dataset import DogCatDataset
from model import CNN
from train import fit, predictions, seed_everything

MINORITY_WEIGHT = 20.0


def per_class_accuracy(y_true, y_pred, num_classes=2):
    """List: for each class c, the fraction of the items of class c predicted as c."""
    # TODO: for each class, mean of (y_pred == c) over the items whose y_true is c
    raise NotImplementedError('TODO (imbalance.py): for each class, mean of (y_pred == c) over the items whose y_true is c')


def precision(y_true, y_pred, positive=1):
    """TP / (TP + FP); 0.0 when nothing is predicted positive."""
    # TODO: true positives over predicted positives
    raise NotImplementedError('TODO (imbalance.py): true positives over predicted positives')


def recall(y_true, y_pred, positive=1):
    """TP / (TP + FN); 0.0 when there are no positives."""
    # TODO: true positives over actual positives
    raise NotImplementedError('TODO (imbalance.py): true positives over actual positives')


def f1_score(y_true, y_pred, positive=1):
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    # TODO: 2 p r / (p + r)
    raise NotImplementedError('TODO (imbalance.py): 2 p r / (p + r)')


def weighted_loss(class_weights):
    """Cross-entropy that weighs each item by the weight of its true class (list, one per class)."""
    # TODO: nn.CrossEntropyLoss with weight= a float tensor of class_weights
    raise NotImplementedError('TODO (imbalance.py): nn.CrossEntropyLoss with weight= a float tensor of class_weights')


def report(model, loader):
    model.eval()
    truth, guesses = [], []
    with torch.no_grad():
        for images, labels in loader:
            truth.append(labels)
            guesses.append(predictions(model(images)))
    y_true, y_pred = torch.cat(truth), torch.cat(guesses)
    cat_acc, dog_acc = per_class_accuracy(y_true, y_pred)
    return {"cat_accuracy": round(cat_acc, 4), "dog_accuracy": round(dog_acc, 4),
            "precision": round(precision(y_true, y_pred), 4), "recall": round(recall(y_true, y_pred), 4),
            "f1": round(f1_score(y_true, y_pred), 4)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="image folder (default: $DOGCAT_DATA or data/dogcat)")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    data = DogCatDataset(args.data)
    summary = {"seed": args.seed}
    for name, weights in (("plain", [1.0, 1.0]), ("weighted", [1.0, MINORITY_WEIGHT])):
        seed_everything(args.seed)
        model = CNN(num_classes=2)
        criterion = weighted_loss(weights)
        fit(model, data, args.epochs, args.seed, criterion=criterion, curve_prefix=f"{name}_")
        metrics = report(model, data.get_val_loader())
        print(f"{name}: {metrics}")
        summary.update({f"{name}_{k}": v for k, v in metrics.items()})
    print("Summary: " + repr(summary))


if __name__ == "__main__":
    main()
