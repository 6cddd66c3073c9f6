"""The grader's evaluation of the notebook's detector and classifier (given; restored when you are graded).

It never imports the notebook. It loads what the notebook exported: the detector and classifier
as a torch.export program (weights/scorer: your `anomaly_score` and `classify` with the trained
model) and your results on the representative sets as plain arrays (exports/results.npz: scores
on set 1 and set 2, the threshold you chose on set 1, your classes for set 2).

Scored (with --holdout): images the notebook never sees, drawn from Fashion-MNIST's test split
(t10k) with the same share of OOD images as set 2; the exported program scores and classifies
them here, and the threshold you chose on set 1 is applied here. Without --holdout (your own
run.sh) the same is done on set 2, rebuilt from the data code, as a preview.

Also reported (not scored): set 2's numbers recomputed from the scores and classes you
exported, with labels rebuilt here from the data code.

Also (generator:DIR): the exported generator, judged by judge_generation.py's reference classifier.
The grader scores both in this one process, each into its own log (LOG=KIND:DIR).

Usage: python evaluate.py --results exports/results.npz --seed SEED [--holdout DIR --secret_seed N] detector:weights/scorer
       python evaluate.py --judge judge.npz --seed SEED generator:weights/generator
"""

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

import cvae_data
import judge_generation

from grader.inside import trusted  # the exports are the student's: read as data, no code of them runs

HOLDOUT_SETS = 4  # the held-out set holds as many images as 4 representative sets, OOD in the same share
MAX_BATCH = 4096


def fail(message):
    trusted.fail(f"evaluate: {message}")


def holdout_set(folder, secret_seed):
    """Images of Fashion-MNIST's test split, in-distribution classes labelled 0-4 and OOD ones
    ANOMALY; which images, drawn by a seed the student never sees."""
    images, labels, rng = trusted.held_out(folder, secret_seed)
    n_ood = HOLDOUT_SETS * cvae_data.N_SET_OOD
    n_id = HOLDOUT_SETS * cvae_data.N_SET - n_ood
    in_dist = rng.choice(np.flatnonzero(np.isin(labels, cvae_data.ID_CLASSES)), n_id, replace=False)
    ood = rng.choice(np.flatnonzero(np.isin(labels, cvae_data.OOD_CLASSES)), n_ood, replace=False)
    remap = {c: i for i, c in enumerate(cvae_data.ID_CLASSES)}
    idx = np.concatenate([in_dist, ood])
    y = np.array([remap[c] for c in labels[in_dist]] + [cvae_data.ANOMALY] * n_ood, dtype=np.int64)
    return cvae_data.to_tensor(images[idx]), y


def load_scorer(folder):
    what = "the notebook did not export its detector"
    program = trusted.load_program(folder / "scorer.pt2", what=what).module()
    try:
        batch = int(trusted.load_json(folder / "scorer.json", what=what)["batch"])
    except (KeyError, TypeError, ValueError):
        fail(f"{folder / 'scorer.json'} is missing or unreadable")
    if not 1 <= batch <= MAX_BATCH:
        fail(f"{folder / 'scorer.json'}: batch {batch} is out of range")
    return program, batch


def score_images(program, batch, x):
    """(anomaly scores, classes) of every image, in fixed-size calls (the last one padded)."""
    scores, classes = [], []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            part = x[start:start + batch]
            padded = torch.cat([part, part.new_zeros(batch - len(part), *part.shape[1:])]) if len(part) < batch else part
            try:
                s, c = program(padded)
            except Exception as exc:  # noqa: BLE001
                fail(f"the exported detector failed on a batch ({type(exc).__name__}: {str(exc)[:200]})")
            scores.append(np.asarray(s, dtype=np.float64).reshape(-1)[:len(part)])
            classes.append(np.asarray(c).astype(np.int64).reshape(-1)[:len(part)])
    scores = np.concatenate(scores)
    # A NaN or infinite score says nothing: it ranks as in-distribution as can be.
    return np.where(np.isfinite(scores), scores, -np.inf), np.concatenate(classes)


def metrics(scores, classes, threshold, labels):
    """AUC (OOD positive), detection accuracy and balanced accuracy at the threshold (flagged OOD
    when score >= threshold), classification accuracy on the in-distribution images."""
    ood = labels == cvae_data.ANOMALY
    flagged = scores >= threshold  # a NaN threshold flags nothing
    finite = np.where(np.isfinite(scores), scores, np.finfo(np.float64).min)
    return {"auc": round(float(roc_auc_score(ood.astype(int), finite)), 4),
            "detection_accuracy": round(float((flagged == ood).mean()), 4),
            "detection_balanced_accuracy": round(float((flagged[ood].mean() + (~flagged[~ood]).mean()) / 2), 4),
            "classification_accuracy": round(float((classes[~ood] == labels[~ood]).mean()), 4)}


def load_results(path):
    results = trusted.load_arrays(path, ["scores_set1", "scores_set2", "threshold", "classes_set2"],
                                  what="the notebook did not export its results")
    if results["threshold"].size != 1 or results["threshold"].dtype.kind not in "fiu":
        fail(f"{path}: the threshold is not one number")
    return results


def score_detector(folder, results, data):
    """The Summary values of the exported detector and classifier: on the held-out images
    (`data["held_out"]`, else set 2 as a preview) with the threshold chosen on set 1, and set 2's
    numbers recomputed from the exported results."""
    threshold = float(results["threshold"].reshape(-1)[0])
    program, batch = load_scorer(Path(folder))
    x2, y2 = data["set2"]
    published = {}
    if results["scores_set2"].shape == y2.shape and results["classes_set2"].shape == y2.shape:
        s2 = results["scores_set2"].astype(np.float64)
        published = {f"set2_{k}": v for k, v in metrics(np.where(np.isfinite(s2), s2, -np.inf),
                                                         results["classes_set2"].astype(np.int64), threshold, y2).items()}
        own, _ = score_images(program, batch, x2)
        if not np.allclose(own, s2, rtol=1e-3, atol=1e-3):
            print("Note: the exported scores of set 2 are not what the exported detector gives for set 2")
    else:
        print(f"Note: exports/results.npz does not hold one score and one class per image of set 2 ({len(y2)})")
    if data.get("held_out"):
        x, y = data["held_out"]
        print(f"held-out images: {len(y)} ({int((y == cvae_data.ANOMALY).sum())} OOD), threshold {threshold:.6g} chosen on set 1")
    else:
        x, y = x2, y2
        print("no held-out images given: set 2 stands in for them (a preview; the grader scores held-out images)")
    scores, classes = score_images(program, batch, x)
    return {**metrics(scores, classes, threshold, y), **published}


def main():
    parser = trusted.parser(__doc__)
    trusted.add_models(parser, "KIND:DIR", "detector:weights/scorer (the detector and classifier) or "
                                           "generator:weights/generator (judged by judge_generation.py's classifier)")
    parser.add_argument("--results", help="the notebook's exported results (npz), for detector:")
    parser.add_argument("--judge", help="the reference classifier `judge_generation.py train` wrote, for generator:")
    args = trusted.parse_args(parser)
    kinds = {model.partition("=")[2].partition(":")[0] if "=" in model else model.partition(":")[0]
             for model in args.models}
    if not kinds <= {"detector", "generator"}:
        parser.error("each model is detector:DIR or generator:DIR")
    if "detector" in kinds and not args.results:
        parser.error("detector: needs --results")
    if "generator" in kinds and not args.judge:
        parser.error("generator: needs --judge")
    # Built once for every model scored here.
    data = {}
    if "detector" in kinds:
        x2, y2 = cvae_data.load_splits(args.seed)["set2"]
        data["set2"] = x2, y2.numpy()
        if args.holdout:
            data["held_out"] = holdout_set(args.holdout, args.secret_seed)

    def score(model):
        kind, _, folder = model.partition(":")
        if kind == "generator":
            return judge_generation.judge(args.judge, folder, args.seed)
        return score_detector(folder, load_results(args.results), data)

    trusted.score_each(args.models, score)


if __name__ == "__main__":
    trusted.run(main)
