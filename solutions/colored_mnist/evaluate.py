"""Test metrics of saved weights, in a process that never imports model.py.

Usage: python evaluate.py --seed SEED weights/IRM   (or LOG=PREFIX for each method: the grader's form)

The grader trains with `train.py --save_weights PREFIX` (your objective, your process) and
runs this script once, in a fresh folder holding only the given files and your weights (plain
arrays), for every method: it rebuilds the published test environment from the seed and, with --holdout, also
scores two held-out environments whose digits and colouring no training run can see. Nothing
printed or cached by the training run can change its Summary line."""

import os

import numpy as np
import torch

from grader.inside import trusted

import data as colored
from metrics import summarise, test_many
from network import MLP


def evaluate(prefix, test_env, holdout, restarts):
    """The Summary values of one method's weights (PREFIX_restart<k>.npz): mean test metrics over
    the restarts and, with held-out environments, the mean accuracy on each and the lower."""
    nets = []
    for restart in range(restarts):
        path = f"{prefix}_restart{restart}.npz"
        nets.append(trusted.load_state(path, MLP(test_env[0].shape[1])))
        if float(nets[-1].w) != 1.0:
            trusted.fail(f"{path}: the output multiplier w must stay 1.0")
    # Every restart on each batch: the inputs of a split are built once per method, not per restart.
    results = test_many(nets, test_env)
    held = {name: [metrics["Accuracy"] for metrics in test_many(nets, env)] for name, env in holdout.items()}
    for restart, metrics in enumerate(results):
        print(f"restart {restart} test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        for name in holdout:
            print(f"restart {restart} held-out ({name}): accuracy {held[name][restart]:.4f}", flush=True)
    summary = summarise(results)
    if holdout:
        means = {name: round(float(np.mean(values)), 6) for name, values in held.items()}
        summary.update({f"Accuracy_holdout_{name}": value for name, value in means.items()})
        summary["Accuracy_holdout_min"] = min(means.values())
    return summary


def main(argv=None):
    parser = trusted.parser(__doc__, dataset=colored.SOURCES,
                            dataset_default=os.environ.get("COLORED_MNIST_DATASET", "fashion_mnist"),
                            data_dir=os.environ.get("COLORED_MNIST_DATA", "data"))
    trusted.add_models(parser, "PREFIX", "weights of one method: PREFIX_restart<k>.npz")
    parser.add_argument("--restarts", type=int, default=3)
    args = trusted.parse_args(parser, argv)
    torch.use_deterministic_algorithms(True)
    print(f"Dataset: {args.dataset}; evaluating {' '.join(args.models)}; seed: {args.seed}", flush=True)
    # Built once for every method scored here.
    test_env = colored.test_split(colored.generate(args.dataset, args.data_dir, args.seed))
    # The secret seed is never printed: the log reaches the student.
    holdout = colored.holdout_environments(trusted.held_out(args.holdout, args.secret_seed)) if args.holdout else {}
    trusted.score_each(args.models, lambda prefix: evaluate(prefix, test_env, holdout, args.restarts))


if __name__ == "__main__":
    trusted.run(main)
