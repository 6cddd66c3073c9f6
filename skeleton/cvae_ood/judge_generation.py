"""An objective check of class-conditional generation (given; restored when you are graded).

`train` fits a small reference classifier on the in-distribution classes (seeded; the grader
does this once and caches it). `judge` asks the exported generator for N images of each class,
with latent codes it samples itself, and reports the fraction the classifier assigns to the
class asked for. It never imports the notebook: the generator comes from torch.export's file.

Usage: python judge_generation.py train --out judge.npz
       python judge_generation.py judge --judge judge.npz --generator weights/generator --seed SEED
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

import cvae_data

from grader.inside import trusted  # the export is the student's: read as data, no code of it runs

JUDGE_SEED, JUDGE_EPOCHS, JUDGE_TRAIN, JUDGE_VAL = 0, 2, 20_000, 2_000


def make_judge():
    return nn.Sequential(nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(), nn.Conv2d(16, 32, 5, stride=2, padding=2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, len(cvae_data.ID_CLASSES)))


def train(out):
    torch.manual_seed(JUDGE_SEED)
    images, labels = cvae_data.load_fashion()
    rng = np.random.default_rng(JUDGE_SEED)
    idx = rng.permutation(np.flatnonzero(np.isin(labels, cvae_data.ID_CLASSES)))
    remap = {c: i for i, c in enumerate(cvae_data.ID_CLASSES)}
    used = idx[:JUDGE_TRAIN + JUDGE_VAL]  # converted alone: the rest never sits in memory as floats
    x, y = cvae_data.to_tensor(images[used]), torch.tensor([remap[c] for c in labels[used]])
    del images, labels
    x_train, y_train, x_val, y_val = x[:JUDGE_TRAIN], y[:JUDGE_TRAIN], x[JUDGE_TRAIN:], y[JUDGE_TRAIN:]
    net = make_judge()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(JUDGE_EPOCHS):
        for batch in torch.randperm(len(x_train)).split(128):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
    with torch.no_grad():  # 500 images a pass: the peak stays under 900 MiB
        correct = sum((net(x_val[s:s + 500]).argmax(1) == y_val[s:s + 500]).sum().item() for s in range(0, len(y_val), 500))
    accuracy = correct / len(y_val)
    np.savez(out, **{k: v.numpy() for k, v in net.state_dict().items()})
    print(f"judge trained: held-out accuracy {accuracy:.4f} on {len(y_val)} real images")


def load_judge(path):
    return trusted.load_state(path, make_judge(), what="train the judge first (judge_generation.py train)")


def judge(judge_path, generator_dir, seed):
    """The Summary values: the share of generated images of each class the judge assigns to it."""
    generator_dir = Path(generator_dir)
    what = "the notebook did not export its generator"
    generator = trusted.load_program(generator_dir / "generator.pt2", what=what).module()
    try:
        shape = trusted.load_json(generator_dir / "generator.json", what=what)
        latent_dim, per_class = int(shape["latent_dim"]), int(shape["batch"])
    except (KeyError, TypeError, ValueError):
        trusted.fail(f"{generator_dir / 'generator.json'} does not give latent_dim and batch")
    net = load_judge(judge_path)
    torch.manual_seed(seed)
    results = {}
    with torch.no_grad():
        for label, name in enumerate(cvae_data.CLASS_NAMES):
            labels = torch.full((per_class,), label, dtype=torch.int64)
            images = generator(labels, torch.randn(per_class, latent_dim)).reshape(per_class, 1, 32, 32).clamp(0, 1)
            results[name] = (net(images).argmax(1) == label).float().mean().item()
            print(f"{name}: {results[name]:.3f} of {per_class} generated images judged {name}")
    return {"generation_consistency": round(float(np.mean(list(results.values()))), 4),
            **{f"consistency_{k}": round(v, 4) for k, v in results.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    j = sub.add_parser("judge")
    j.add_argument("--judge", required=True)
    j.add_argument("--generator", required=True, help="folder the notebook exported its generator to")
    j.add_argument("--seed", type=int, default=0)
    args = trusted.parse_args(parser)
    if args.verb == "train":
        train(args.out)
    else:
        trusted.print_summary(judge(args.judge, args.generator, args.seed))


if __name__ == "__main__":
    trusted.run(main)
