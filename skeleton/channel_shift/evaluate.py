"""Test accuracy of saved weights, in a process that never imports groups.py: it rebuilds the
test split from the seed itself and reads the weights as plain arrays, so nothing the
training run prints or caches can change the Summary line.

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
    args = parser.parse_args()
    if not os.path.isfile(args.weights):
        raise SystemExit(f"{args.weights} not found: the training run did not save its weights")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    splits = channel_data.generate(args.dataset, args.data_dir, args.seed)
    net = load_weights(args.weights)
    results = {name: round(accuracy(net, *splits[name][:3], channel_data.to_inputs), 4) for name in ("val", "test")}
    images, channels, _, clean = splits["test"]
    results["test_clean_accuracy"] = round(accuracy(net, images, channels, clean, channel_data.to_inputs), 4)
    print(f"Dataset: {args.dataset}; seed: {args.seed}; weights: {args.weights}")
    print("Summary: " + repr({"val_accuracy": results["val"], "test_accuracy": results["test"],
                              "test_clean_accuracy": results["test_clean_accuracy"]}), flush=True)


if __name__ == "__main__":
    main()
