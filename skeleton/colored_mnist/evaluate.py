"""Test metrics of saved weights, in a process that never imports model.py.

The grader trains with `train.py --save_weights PREFIX` (your objective, your process) and
runs this script in a fresh folder holding only the given files and your weights (plain
arrays): it rebuilds the published test environment from the seed and, with --holdout, also
scores two held-out environments whose digits and colouring no training run can see. Nothing
printed or cached by the training run can change its Summary line."""

import os

import numpy as np
import torch

from grader.inside import trusted

import data as colored
from metrics import summarise, test
from network import MLP


def main(argv=None):
    parser = trusted.parser(__doc__, dataset=colored.SOURCES,
                            dataset_default=os.environ.get("COLORED_MNIST_DATASET", "fashion_mnist"),
                            data_dir=os.environ.get("COLORED_MNIST_DATA", "data"))
    parser.add_argument("--weights", required=True, metavar="PREFIX", help="reads PREFIX_restart<k>.npz")
    parser.add_argument("--restarts", type=int, default=3)
    args = trusted.parse_args(parser, argv)
    torch.use_deterministic_algorithms(True)
    print(f"Dataset: {args.dataset}; evaluating {args.weights}; seed: {args.seed}", flush=True)
    test_env = colored.test_split(colored.generate(args.dataset, args.data_dir, args.seed))
    # The secret seed is never printed: the log reaches the student.
    holdout = colored.holdout_environments(trusted.held_out(args.holdout, args.secret_seed)) if args.holdout else {}
    results, held = [], {name: [] for name in holdout}
    for restart in range(args.restarts):
        path = f"{args.weights}_restart{restart}.npz"
        net = trusted.load_state(path, MLP(test_env[0].shape[1]))
        if float(net.w) != 1.0:
            trusted.fail(f"{path}: the output multiplier w must stay 1.0")
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
    trusted.print_summary(summary)


if __name__ == "__main__":
    main()
