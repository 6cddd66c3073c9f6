'''Forged cvae_ood notebooks, built from the handout's skeleton the way a student who did not do
the work would write them. Each attack sits on a NO-WORK base: TODO cells that learn nothing
(every image gets the same score and class; training runs in seconds), so every point an attack
earns would come from the forgery alone. tests/adversarial/test_adversarial_cvae_ood.py grades them.

    build(name, skeleton_text) -> notebook text (nbformat JSON)
'''

import copy

import nbformat
from nbformat.v4 import new_code_cell

NO_WORK_ELBO = """def reparameterize(mu, logvar, generator=None):
    return mu


def kl_divergence(mu, logvar):
    return (0 * mu).sum(dim=-1)


def negative_elbo(model, x, labels, sample=True):
    # nothing learnt: a zero linked to the parameters, so the given training loop runs (fast)
    return 0 * x.flatten(1).sum(1) + 0 * model.to_mu.bias.sum()
"""

NO_WORK_SCORES = """@torch.no_grad()
def class_scores(model, x, batch=512):
    return 0 * x.flatten(1)[:, :N_CLASSES]


def classify(model, x):
    return class_scores(model, x).argmin(dim=1)


def anomaly_score(model, x):
    return class_scores(model, x).min(dim=1).values


def roc_auc(scores, is_ood):
    return float(roc_auc_score(np.asarray(is_ood).astype(int), np.asarray(scores)))


def choose_threshold(scores, is_ood):
    return 0.5
"""

# Scores that "know" set 2: an image scores 1 when it is one of set 2's OOD images (rebuilt
# from the data code and the seed, labels and all), and the threshold is tuned on set 2's
# scores and labels instead of set 1's. On set 2: AUC 1, every image right.
SET2_SCORES = """import cvae_data as _data

_SET2 = {}


def _set2():
    if not _SET2:
        x2, y2 = _data.load_splits(SEED)["set2"]
        _SET2.update(x=x2, ood=(y2 == _data.ANOMALY).numpy(), table=x2[y2 == _data.ANOMALY].flatten(1))
    return _SET2


@torch.no_grad()
def class_scores(model, x, batch=512):
    return 0 * x.flatten(1)[:, :N_CLASSES]


def classify(model, x):
    return class_scores(model, x).argmin(dim=1)


def anomaly_score(model, x):
    table = _set2()["table"]
    distance = torch.cdist(x.flatten(1), table, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
    return (distance < 1e-3).float()


def roc_auc(scores, is_ood):
    return float(roc_auc_score(np.asarray(is_ood).astype(int), np.asarray(scores)))


def choose_threshold(scores, is_ood):
    s2, ood2 = anomaly_score(None, _set2()["x"]).numpy(), _set2()["ood"]  # set 2, not the set 1 it was given
    candidates = np.unique(s2)
    return float(candidates[int(np.argmax([((s2 >= t) == ood2).mean() for t in candidates]))])
"""

PERFECT = {"auc": 0.99, "detection_accuracy": 0.99, "detection_balanced_accuracy": 0.99,
           "classification_accuracy": 0.99, "generation_consistency": 0.99}

FORGED_SUMMARY = f"""print("Summary: " + repr({PERFECT!r}), flush=True)"""

# A given cell rewritten: the evaluation prints perfect numbers and exports set 2's labels as
# its scores (the detector it exports still knows nothing).
EDITED_EVALUATION = f"""x2, y2 = data["set2"]
ood2 = (y2 == cvae_data.ANOMALY).numpy()
cvae_data.export_results("exports", ood2.astype(float), ood2.astype(float), 0.5, y2.numpy())
cvae_data.export_scorer(anomaly_score, classify, model, "weights/scorer")
print("Summary: " + repr({PERFECT!r}), flush=True)"""

# Runs after the given evaluation: overwrites its exports with perfect set 2 results, and writes
# the logs the grader's own steps would write, with perfect numbers, into the workspace.
FORGED_EXPORTS = f"""import pathlib
_x2, _y2 = data["set2"]
_ood2 = (_y2 == cvae_data.ANOMALY).numpy()
cvae_data.export_results("exports", _ood2.astype(float), _ood2.astype(float), 0.5, _y2.numpy())
for _log in ("ood_eval_log.txt", "generation_log.txt", "logs/ood_eval_log.txt"):
    pathlib.Path(_log).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(_log).write_text("Summary: " + repr({PERFECT!r}) + "\\n")"""


def _cell_defining(nb, name):
    return next(c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source)


def _cell_starting(nb, text):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(text))


def build(name: str, skeleton_text: str) -> str:
    nb = nbformat.reads(skeleton_text, as_version=4)
    _cell_defining(nb, "negative_elbo").source = NO_WORK_ELBO
    _cell_defining(nb, "anomaly_score").source = SET2_SCORES if name == "threshold_on_set2" else NO_WORK_SCORES
    evaluation = _cell_starting(nb, 'x1, y1 = data["set1"]')
    after_evaluation = nb.cells.index(evaluation) + 1
    if name == "forged_summary":
        nb.cells.insert(0, new_code_cell(FORGED_SUMMARY))
        nb.cells.insert(after_evaluation + 1, new_code_cell(FORGED_SUMMARY))
    elif name == "edited_given_cell":
        evaluation.source = EDITED_EVALUATION
    elif name == "forged_exports":
        nb.cells.insert(after_evaluation, new_code_cell(FORGED_EXPORTS))
    elif name != "threshold_on_set2":
        raise ValueError(f"no attack named {name!r}")
    return nbformat.writes(copy.deepcopy(nb))


ATTACKS = {  # name -> the rubric items it attacks
    "forged_summary": ["auc", "detection", "classification", "generation"],
    "edited_given_cell": ["auc", "detection", "classification"],
    "threshold_on_set2": ["auc", "detection"],
    "forged_exports": ["auc", "detection", "classification", "generation"],
}
