"""Test metrics: accuracy (logit > 0), ROC AUC from raw logits, macro F1; mean and
population std over restarts."""

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score


def evaluate(logits, y):
    logits, y = np.asarray(logits, dtype=np.float64), np.asarray(y).astype(int)
    pred = (logits > 0).astype(int)
    return {
        "Accuracy": float((pred == y).mean()),
        "AUC": float(roc_auc_score(y, logits)),
        "F1_macro": float(f1_score(y, pred, average="macro")),
    }


EVAL_BATCH = 1024  # rows per forward pass: a split's inputs are built a batch at a time (9.6 MB of floats)


@torch.no_grad()
def test(net, split):
    """Metrics of a network on one split (x, y, env); x is a tensor or anything that gives
    tensors for slices of rows (data.ColoredInputs)."""
    x, y, _ = split
    net.eval()
    logits = torch.cat([net(x[start:start + EVAL_BATCH]) for start in range(0, len(y), EVAL_BATCH)])
    net.train()
    return evaluate(logits.numpy(), y.numpy())


@torch.no_grad()
def test_many(nets, split):
    """`test(net, split)` for several networks, each batch of inputs built once for all of them
    (the trusted evaluation scores every restart of a method: a third of the batches to build)."""
    x, y, _ = split
    logits = [[] for _ in nets]
    for net in nets:
        net.eval()
    for start in range(0, len(y), EVAL_BATCH):
        batch = x[start:start + EVAL_BATCH]
        for out, net in zip(logits, nets):
            out.append(net(batch))
    for net in nets:
        net.train()
    return [evaluate(torch.cat(out).numpy(), y.numpy()) for out in logits]


def summarise(per_restart):
    """{'Accuracy_testmean': ..., 'Accuracy_teststd': ..., ...} as plain floats (not numpy's)."""
    out = {}
    for key in per_restart[0]:
        values = np.array([r[key] for r in per_restart])
        out[f"{key}_testmean"] = round(float(values.mean()), 6)
        out[f"{key}_teststd"] = round(float(values.std()), 6)
    return out
