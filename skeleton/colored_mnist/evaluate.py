"""Test metrics of saved weights, in a process that never imports model.py.

The grader trains with `train.py --save_weights PREFIX` (your objective, your process) and
runs this script in a fresh folder holding only the given files and your weights (plain
arrays): it rebuilds the published test environment from the seed and, with --holdout, also
scores two held-out environments whose digits and colouring no training run can see. Nothing
printed or cached by the training run can change its Summary line."""

import argparse
import os

import numpy as np
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
    p.add_argument("--holdout", default=None, metavar="DIR", help="folder of the held-out t10k digits (grader only)")
    p.add_argument("--secret_seed", type=int, default=None, help="colouring of the held-out environments (grader only)")
    args = p.parse_args(argv)
    torch.use_deterministic_algorithms(True)
    print(f"Dataset: {args.dataset}; evaluating {args.weights}; seed: {args.seed}", flush=True)
    test_env = colored.test_split(colored.generate(args.dataset, args.data_dir, args.seed))
    # The secret seed is never printed: the log reaches the student.
    holdout = colored.holdout_environments(args.holdout, args.secret_seed) if args.holdout else {}
    results, held = [], {name: [] for name in holdout}
    for restart in range(args.restarts):
        net = load_weights(f"{args.weights}_restart{restart}.npz", test_env[0].shape[1])
        metrics = test(net, test_env)
        print(f"restart {restart} test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        results.append(metrics)
        for name, env in holdout.items():
            held[name].append(test(net, env)["Accuracy"])
            print(f"restart {restart} held-out ({name}): accuracy {held[name][-1]:.4f}", flush=True)
    summary = summarise(results)
    if holdout:
        means = {name: round(float(np.mean(values)), 6) for name, values in held.items()}
        summary.update({f"Accuracy_holdout_{name}": value for name, value in means.items()})
        summary["Accuracy_holdout_min"] = min(means.values())
    print(f"Summary: {summary}", flush=True)


if __name__ == "__main__":
    main()
