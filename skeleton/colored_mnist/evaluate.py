"""Test metrics of saved weights, in a process that never imports model.py.

The grader trains with `main.py --save_weights PREFIX` (your objective, your process) and
scores what this script prints: it rebuilds the test environment from the seed itself and
reads the weights as plain arrays, so nothing printed or cached by the training run can
change the Summary line."""

import argparse
import os

import torch

import data as colored
from metrics import summarise, test
from network import load_weights


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--weights", required=True, metavar="PREFIX", help="reads PREFIX_restart<k>.npz")
    p.add_argument("--restarts", type=int, default=3)
    p.add_argument("--dataset", choices=sorted(colored.SOURCES), default=os.environ.get("COLORED_MNIST_DATASET", "fashion_mnist"))
    p.add_argument("--data_dir", default=os.environ.get("COLORED_MNIST_DATA", "data"))
    args = p.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    print(f"Dataset: {args.dataset}; evaluating {args.weights}; seed: {args.seed}", flush=True)
    data = colored.split(colored.generate(args.dataset, args.data_dir, args.seed), args.seed)
    results = []
    for restart in range(args.restarts):
        net = load_weights(f"{args.weights}_restart{restart}.npz", data["test"][0].shape[1])
        metrics = test(net, data["test"])
        print(f"restart {restart} test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        results.append(metrics)
    print(f"Summary: {summarise(results)}", flush=True)


if __name__ == "__main__":
    main()
