"""Colored MNIST experiments: train with one objective over several restarts and print a
`Summary: {...}` line with the test metrics (mean and population std over restarts)."""

import argparse
import os
import time

import torch

import data as colored
import losses
from metrics import summarise, test
from network import save_weights
from trainer import N_TRAIN_ENVS, train


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, required=True, help="last four digits of your student ID")
    p.add_argument("--trainer", choices=["ERM", "groupDRO", "ANDMask"], default="ERM")
    p.add_argument("--reg_name", choices=["IRM", "VREx"], default=None, help="regulariser for the ERM trainer")
    p.add_argument("--dataset", choices=sorted(colored.SOURCES), default=os.environ.get("COLORED_MNIST_DATASET", "fashion_mnist"))
    p.add_argument("--data_dir", default=os.environ.get("COLORED_MNIST_DATA", "data"), help="torchvision root of the raw digits")
    p.add_argument("--download", action="store_true", help="download the digits if they are not in --data_dir")
    p.add_argument("--cache_dir", default="data_cache")
    p.add_argument("--no_cuda", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--restarts", type=int, default=3)
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--batch_size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eta", type=float, default=0.05, help="Group DRO step size")
    p.add_argument("--lam", type=float, default=50.0, help="IRM penalty weight")
    p.add_argument("--beta", type=float, default=100.0, help="V-REx variance weight")
    p.add_argument("--tau", type=float, default=1.0, help="ANDMask agreement threshold")
    p.add_argument("--log_every", type=int, default=100)
    p.add_argument("--save_weights", default=None, metavar="PREFIX",
                   help="save each restart's trained weights to PREFIX_restart<k>.npz (for evaluate.py)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    # The course models are tiny: the CPU is as fast as a GPU here, and results stay bit-identical.
    torch.use_deterministic_algorithms(True)
    name = args.trainer + (f"+{args.reg_name}" if args.reg_name else "")
    print(f"Dataset: {args.dataset}; method: {name}; seed: {args.seed}", flush=True)
    raw, from_cache = colored.cached(args.dataset, args.data_dir, args.seed, args.cache_dir, args.download)
    print(f"data {'read from cache' if from_cache else 'generated'} in {time.time() - start:.1f}s", flush=True)
    data = colored.split(raw, args.seed)
    del raw  # the splits hold their own copies: the whole generated set is not needed while training
    results = []
    for restart in range(args.restarts):
        objective = losses.build(args.trainer, args.reg_name, N_TRAIN_ENVS, args)
        net = train(data, objective, args, restart, log=lambda msg: print(msg, flush=True))
        if args.save_weights:
            save_weights(net, f"{args.save_weights}_restart{restart}.npz")
        metrics = test(net, data["test"])
        print(f"restart {restart} test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        results.append(metrics)
    print(f"done in {time.time() - start:.1f}s", flush=True)
    print(f"Summary: {summarise(results)}", flush=True)


if __name__ == "__main__":
    main()
