"""Trains the CNN on the dog-breed folder and logs its curves and a Summary line.

Usage: python train.py --seed SEED [--epochs 10] [--data data/dogs] [--export weights/cnn]
The course's settings: batch 4, SGD with learning rate 1e-3 and momentum 0.9, 10 epochs.
"""

import argparse
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from checkpoint import export_for_grading, restore_checkpoint, save_checkpoint
from dataset import DogDataset
from model import CNN, count_parameters


def get_loss_and_optimizer(model, lr=1e-3, momentum=0.9):
    """Returns (criterion, optimizer): cross-entropy, and SGD with momentum over model's parameters."""
    # TODO: nn.CrossEntropyLoss() and torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    raise NotImplementedError('TODO (train.py): nn.CrossEntropyLoss() and torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)')


def predictions(logits):
    """Predicted class of each row of logits (N, C): a LongTensor of shape (N,)."""
    # TODO: index of the largest logit in each row
    raise NotImplementedError('TODO (train.py): index of the largest logit in each row')


def accuracy(y_true, y_pred):
    """Fraction of y_pred equal to y_true, as a Python float."""
    # TODO: mean of the element-wise equality
    raise NotImplementedError('TODO (train.py): mean of the element-wise equality')


def train_epoch(model, loader, criterion, optimizer):
    """One pass over loader: for each batch clear the gradients, compute the loss, backpropagate
    and take an optimiser step."""
    model.train()
    # TODO: the loop over (images, labels) in loader
    raise NotImplementedError('TODO (train.py): the loop over (images, labels) in loader')


def evaluate_loader(model, loader, criterion):
    """(mean loss, accuracy) of model over loader."""
    model.eval()
    losses, truth, guesses = [], [], []
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            losses.append(criterion(logits, labels).item() * len(labels))
            truth.append(labels)
            guesses.append(predictions(logits))
    y_true, y_pred = torch.cat(truth), torch.cat(guesses)
    return sum(losses) / len(y_true), accuracy(y_true, y_pred)


def plot_history(history, path):
    """Loss and accuracy per epoch as a PNG, when matplotlib is installed (the grader's report
    draws the same curves from the log's Curve lines)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no {path}")
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "val"):
        left.plot([h["epoch"] for h in history], [h[f"{split}_loss"] for h in history], label=split)
        right.plot([h["epoch"] for h in history], [h[f"{split}_accuracy"] for h in history], label=split)
    left.set(xlabel="epoch", ylabel="loss")
    right.set(xlabel="epoch", ylabel="accuracy")
    left.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(model, data, epochs, seed, lr=1e-3, momentum=0.9, checkpoint_dir=None, resume=False, criterion=None,
        curve_prefix=""):
    """Trains for `epochs` epochs; logs one Curve line per epoch; returns the history.
    criterion replaces the default loss (imbalance.py's weighted one)."""
    default_criterion, optimizer = get_loss_and_optimizer(model, lr, momentum)
    criterion = criterion or default_criterion
    start, history = 0, []
    if checkpoint_dir and resume:
        model, start, history = restore_checkpoint(model, checkpoint_dir, "latest")
    train_loader, val_loader = data.get_train_loader(seed), data.get_val_loader()
    for epoch in range(start, epochs):
        train_epoch(model, train_loader, criterion, optimizer)
        train_loss, train_acc = evaluate_loader(model, train_loader, criterion)
        val_loss, val_acc = evaluate_loader(model, val_loader, criterion)
        point = {"epoch": epoch + 1, "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5),
                 "train_accuracy": round(train_acc, 5), "val_accuracy": round(val_acc, 5)}
        history.append(point)
        print("Curve: " + repr({f"{curve_prefix}{k}" if k != "epoch" else k: v for k, v in point.items()}), flush=True)
        if checkpoint_dir:
            save_checkpoint(model, epoch + 1, checkpoint_dir, history)
    return history


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="image folder (default: $DOGS_DATA or data/dogs)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--checkpoint_dir", default=None, help="save a checkpoint every epoch here")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    parser.add_argument("--export", default=None, help="folder for the exported model the grader scores")
    parser.add_argument("--plot", default="cnn_training.png")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    seed_everything(args.seed)
    data = DogDataset(args.data, batch_size=args.batch_size)
    model = CNN(num_classes=len(data.classes))
    print(f"CNN with {count_parameters(model)} trainable parameters; classes {data.classes}")
    history = fit(model, data, args.epochs, args.seed, args.lr, args.momentum, args.checkpoint_dir, args.resume)
    if args.export:  # first: the graded file must not depend on the plot
        export_for_grading(model, data.mean, data.std, args.export)
    plot_history(history, args.plot)
    last = history[-1] if history else {}
    print("Summary: " + repr({"seed": args.seed, "epochs": args.epochs, "train_accuracy": last.get("train_accuracy"),
                              "val_accuracy": last.get("val_accuracy"), "val_loss": last.get("val_loss")}))


if __name__ == "__main__":
    main()
