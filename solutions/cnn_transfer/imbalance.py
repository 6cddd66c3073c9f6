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
    # BEGIN SOLUTION: for each class, mean of (y_pred == c) over the items whose y_true is c
    return [(y_pred[y_true == c] == c).float().mean().item() for c in range(num_classes)]
    # END SOLUTION


def precision(y_true, y_pred, positive=1):
    """TP / (TP + FP); 0.0 when nothing is predicted positive."""
    # BEGIN SOLUTION: true positives over predicted positives
    predicted = (y_pred == positive).sum().item()
    hits = ((y_pred == positive) & (y_true == positive)).sum().item()
    return hits / predicted if predicted else 0.0
    # END SOLUTION


def recall(y_true, y_pred, positive=1):
    """TP / (TP + FN); 0.0 when there are no positives."""
    # BEGIN SOLUTION: true positives over actual positives
    actual = (y_true == positive).sum().item()
    hits = ((y_pred == positive) & (y_true == positive)).sum().item()
    return hits / actual if actual else 0.0
    # END SOLUTION


def f1_score(y_true, y_pred, positive=1):
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    # BEGIN SOLUTION: 2 p r / (p + r)
    p, r = precision(y_true, y_pred, positive), recall(y_true, y_pred, positive)
    return 2 * p * r / (p + r) if p + r else 0.0
    # END SOLUTION


def weighted_loss(class_weights):
    """Cross-entropy that weighs each item by the weight of its true class (list, one per class)."""
    # BEGIN SOLUTION: nn.CrossEntropyLoss with weight= a float tensor of class_weights
    return nn.CrossEntropyLoss(weight=torch.tensor(class_weights, dtype=torch.float32))
    # END SOLUTION


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
