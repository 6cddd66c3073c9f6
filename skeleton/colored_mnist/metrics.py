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


@torch.no_grad()
def test(net, split):
    """Metrics of a network on one split (x, y, env)."""
    x, y, _ = split
    net.eval()
    logits = net(x)
    net.train()
    return evaluate(logits.numpy(), y.numpy())


def summarise(per_restart):
    """{'Accuracy_testmean': ..., 'Accuracy_teststd': ..., ...} as plain floats (not numpy's)."""
    out = {}
    for key in per_restart[0]:
        values = np.array([r[key] for r in per_restart])
        out[f"{key}_testmean"] = round(float(values.mean()), 6)
        out[f"{key}_teststd"] = round(float(values.std()), 6)
    return out
