"""Test accuracy of saved weights, in a process that never imports groups.py: the grader runs
it in a fresh folder holding only the given files and the weights (plain arrays), so nothing
the training run prints, caches or plants can change the Summary line.

Without --holdout it scores the test split it rebuilds from the seed (your own runs). The
grader passes --holdout: then `test_accuracy` is measured on the dataset's own test split
(10,000 digits no training run sees, channels and label noise from a secret seed), and the
rebuilt split's value is kept as `split_test_accuracy`.

Usage: python evaluate.py --seed SEED --weights weights/balanced.npz [--dataset fashion_mnist]
"""

import argparse
import os

import torch

import data as channel_data
from network import accuracy, load_weights


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--dataset", choices=sorted(channel_data.SOURCES), default="fashion_mnist")
    parser.add_argument("--data_dir", default=os.environ.get("CHANNEL_SHIFT_DATA", "data"))
    parser.add_argument("--holdout", default=None, metavar="DIR", help="folder of the held-out t10k digits (grader only)")
    parser.add_argument("--secret_seed", type=int, default=None, help="channels and noise of the held-out digits (grader only)")
    args = parser.parse_args()
    if not os.path.isfile(args.weights):
        raise SystemExit(f"{args.weights} not found: the training run did not save its weights")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    splits = channel_data.generate(args.dataset, args.data_dir, args.seed)
    net = load_weights(args.weights)
    results = {name: round(accuracy(net, *splits[name][:3], channel_data.to_inputs), 4) for name in ("val", "test")}
    if args.holdout:  # the secret seed is never printed: the log reaches the student
        splits["heldout"] = channel_data.holdout_split(args.holdout, args.secret_seed)
        results["split_test"] = results["test"]
        results["test"] = round(accuracy(net, *splits["heldout"][:3], channel_data.to_inputs), 4)
    images, channels, _, clean = splits["heldout" if args.holdout else "test"]
    results["test_clean_accuracy"] = round(accuracy(net, images, channels, clean, channel_data.to_inputs), 4)
    print(f"Dataset: {args.dataset}; seed: {args.seed}; weights: {args.weights}"
          + ("; test data: the held-out test split" if args.holdout else ""))
    summary = {"val_accuracy": results["val"], "test_accuracy": results["test"],
               "test_clean_accuracy": results["test_clean_accuracy"]}
    if args.holdout:
        summary["split_test_accuracy"] = results["split_test"]
    print("Summary: " + repr(summary), flush=True)


if __name__ == "__main__":
    main()
