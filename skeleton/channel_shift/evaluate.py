"""Test accuracy of saved weights, in a process that never imports groups.py: the grader runs
it in a fresh folder holding only the given files and the weights (plain arrays), so nothing
the training run prints, caches or plants can change the Summary line.

Without --holdout it scores the test split it rebuilds from the seed (your own runs). The
grader passes --holdout: then `test_accuracy` is measured on the dataset's own test split
(10,000 digits no training run sees, channels and label noise from a secret seed), and the
rebuilt split's value is kept as `split_test_accuracy`.

Usage: python evaluate.py --seed SEED --weights weights/balanced.npz [--dataset fashion_mnist]
"""

import os

from grader.inside import trusted

import data as channel_data
from network import accuracy, make_network


def main():
    parser = trusted.parser(__doc__, dataset=channel_data.SOURCES,
                            data_dir=os.environ.get("CHANNEL_SHIFT_DATA", "data"))
    parser.add_argument("--weights", required=True)
    args = trusted.parse_args(parser)
    net = trusted.load_state(args.weights, make_network())
    splits = channel_data.generate(args.dataset, args.data_dir, args.seed)
    if args.holdout:  # the secret seed is never printed: the log reaches the student
        splits["heldout"] = channel_data.holdout_split(trusted.held_out(args.holdout, args.secret_seed))
    score = {name: round(accuracy(net, *split[:3], channel_data.to_inputs), 4) for name, split in splits.items()
             if name != "train"}
    images, channels, _, clean = splits["heldout" if args.holdout else "test"]
    print(f"Dataset: {args.dataset}; seed: {args.seed}; weights: {args.weights}"
          + ("; test data: the held-out test split" if args.holdout else ""))
    trusted.print_summary({"val_accuracy": score["val"], "test_accuracy": score["heldout" if args.holdout else "test"],
                           "test_clean_accuracy": round(accuracy(net, images, channels, clean, channel_data.to_inputs), 4),
                           **({"split_test_accuracy": score["test"]} if args.holdout else {})})


if __name__ == "__main__":
    trusted.run(main)
