"""Adversarial submission for tests/adversarial/test_adversarial_cnn_transfer.py, not a solution: trains
nothing and exports a one-layer network (15,365 parameters, chance accuracy). The submission
also ships its own evaluate.py, make_data.py, sitecustomize.py, conftest.py and a .pth file,
each printing a perfect evaluation Summary: only the editable files may count."""

import argparse

import torch
from checkpoint import export_for_grading
from dataset import DogDataset
from torch import nn


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", default="weights/cnn")
    args, _ = parser.parse_known_args()
    data = DogDataset()
    torch.manual_seed(args.seed)
    export_for_grading(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 5)), data.mean, data.std, args.export)
    print("Summary: " + repr({"seed": args.seed}))


if __name__ == "__main__":
    main()
