"""Runner of the notebook's function tests: its cells tagged `functions` as a module (no training
is re-run), called on inputs the course chose. It only records outputs; the checker
(cvae_functions_check.py) compares them with the reference notebook's. Checked numbers:
assignments.md, section 3."""

import math

from grader.inside.notebook import import_function_cells
from grader.inside.runner_kit import case

NOTEBOOK = "cvae_ood.ipynb"


def notebook():
    return import_function_cells(NOTEBOOK)


@case
def kl_divergence_value():
    import torch

    # KL(N([1, 0], diag[1, 4]) || N(0, I)) = 1.306853
    return {"kl": notebook().kl_divergence(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]]))}


@case
def reparameterize_has_the_right_mean_and_spread():
    import torch

    z = notebook().reparameterize(torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(9.0)))
    return {"shape": list(z.shape), "mean": z.mean(), "std": z.std()}


@case
def negative_elbo_is_summed_reconstruction_plus_kl():
    import torch

    nb = notebook()
    torch.manual_seed(1)
    model = nb.CVAE()
    x = torch.rand(3, 1, 32, 32).round()
    labels = torch.tensor([0, 2, 4])
    with torch.no_grad():
        got = nb.negative_elbo(model, x, labels, sample=False)
        # The two terms from the given model, so the checker can name a known mistake
        # (a reconstruction averaged over pixels, a missing KL) when the value is that one.
        mu, logvar = model.encode(x, labels)
        recon = torch.nn.functional.binary_cross_entropy_with_logits(model.decode_logits(mu, labels), x.flatten(1),
                                                                     reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)
    return {"neg_elbo": got, "recon_sum": recon, "kl": kl}


@case
def auc_takes_ood_as_positive():
    # in-distribution scores [0.1, 0.2, 0.3], OOD [0.25, 0.4]: 5/6 with OOD positive
    return {"auc": notebook().roc_auc([0.1, 0.2, 0.3, 0.25, 0.4], [0, 0, 0, 1, 1])}


@case
def threshold_is_the_roc_point_closest_to_the_corner():
    nb = notebook()
    # Points where the two usual criteria agree ...
    agree = nb.choose_threshold([0.1, 0.2, 0.3, 0.25, 0.4, 0.05, 0.35, 0.45], [0, 0, 0, 1, 1, 0, 0, 1])
    # ... and where they disagree: threshold 0.7 gives (fpr, tpr) = (0, 0.6), the largest
    # Youden's J (0.6); 0.5 gives (0.25, 0.8), the point closest to (0, 1) (0.1025 against 0.16).
    disagree = nb.choose_threshold([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], [1, 1, 1, 0, 1, 0, 0, 1, 0])
    return {"threshold": float(agree), "threshold_where_criteria_disagree": float(disagree)}


def _class_score_table(nb):
    import torch

    table = torch.tensor([[5.0, 1.0, 9.0, 9.0, 9.0], [3.0, 8.0, 8.0, 2.5, 8.0]])
    nb.class_scores = lambda model, x, *args, **kwargs: table  # classify and anomaly_score look it up here
    return nb


@case
def classify_takes_the_lowest_negative_elbo():
    import torch

    return {"classes": torch.as_tensor(_class_score_table(notebook()).classify(None, None))}


@case
def anomaly_score_is_the_lowest_negative_elbo():
    import torch

    return {"scores": torch.as_tensor(_class_score_table(notebook()).anomaly_score(None, None)).float()}


@case
def generate_follows_the_requested_class():
    import torch

    nb = notebook()
    torch.manual_seed(2)
    model = nb.CVAE()
    z = torch.randn(4, nb.LATENT_DIM)
    with torch.no_grad():
        a = nb.generate(model, torch.tensor([0, 0, 0, 0]), z)
        b = nb.generate(model, torch.tensor([3, 3, 3, 3]), z)
    return {"class_0": a, "class_3": b}
