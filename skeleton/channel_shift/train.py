"""Trains the CNN on spurious-channel digits, straight-forwardly or group-balanced.

Usage: python train.py --method plain|balanced --seed SEED [--dataset fashion_mnist]
                       [--data_dir data] [--save_weights weights/balanced.npz]
plain: shuffled batches, mean cross-entropy (given). balanced: batches drawn by
groups.balanced_indices over (label, channel) groups, loss groups.worst_group_loss.
"""

import argparse
import os
import random

import numpy as np
import torch
from torch import nn

import data as channel_data
import groups as student  # your code, imported before any work: a groups.py that does not compile stops here
from network import accuracy, make_network, save_weights

STEPS, BATCH, LR = 1500, 128, 1e-3


def plain_batches(n, rng):
    while True:
        order = rng.permutation(n)
        for start in range(0, n - BATCH + 1, BATCH):
            yield order[start:start + BATCH]


def train(method, splits, seed, steps=STEPS, log_every=100):
    torch.manual_seed(seed)
    random.seed(seed)
    rng = np.random.default_rng(seed)
    images, channels, labels, _ = splits["train"]
    group_of = student.make_groups(labels, channels) if method == "balanced" else None
    batches = plain_batches(len(labels), rng) if method == "plain" else None
    net = make_network()
    q = torch.full((channel_data.N_CLASSES ** 2,), 1.0 / channel_data.N_CLASSES ** 2)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    per_item = nn.CrossEntropyLoss(reduction="none")
    for step in range(1, steps + 1):
        idx = next(batches) if method == "plain" else student.balanced_indices(group_of, BATCH, rng)
        net.train()
        losses = per_item(net(channel_data.to_inputs(images[idx], channels[idx])), torch.as_tensor(labels[idx]))
        if method == "plain":
            loss = losses.mean()
        else:
            loss = student.worst_group_loss(losses, torch.as_tensor(group_of[idx]), q)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps:
            val = accuracy(net, *splits["val"][:3], channel_data.to_inputs)
            print("Curve: " + repr({"step": step, "train_loss": round(loss.item(), 5), "val_accuracy": round(val, 4)}),
                  flush=True)
    return net


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=["plain", "balanced"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=sorted(channel_data.SOURCES), default="fashion_mnist")
    parser.add_argument("--data_dir", default=os.environ.get("CHANNEL_SHIFT_DATA", "data"))
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--save_weights", default=None, help="write the trained weights here (.npz)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    torch.use_deterministic_algorithms(True)
    print(f"Dataset: {args.dataset}; method: {args.method}; seed: {args.seed}", flush=True)
    splits = channel_data.generate(args.dataset, args.data_dir, args.seed, args.download)
    net = train(args.method, splits, args.seed, args.steps)
    if args.save_weights:
        os.makedirs(os.path.dirname(args.save_weights) or ".", exist_ok=True)
        save_weights(net, args.save_weights)
    results = {name: round(accuracy(net, *splits[name][:3], channel_data.to_inputs), 4) for name in ("train", "val", "test")}
    print("Summary: " + repr({"train_accuracy": results["train"], "val_accuracy": results["val"],
                              "test_accuracy": results["test"]}), flush=True)


if __name__ == "__main__":
    main()
