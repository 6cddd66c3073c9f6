"""Hidden tests for the notebook's functions, imported from its cells tagged `functions`
(grader/notebook.py): no training is re-run. Checked numbers: assignments.md, section 3."""

import math

import numpy as np
import pytest
import torch

from grader.notebook import import_function_cells


@pytest.fixture(scope="module")
def nb():
    return import_function_cells("cvae_ood.ipynb")


def test_kl_divergence_value(nb):
    got = nb.kl_divergence(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]]))
    assert got.shape[0] == 1, f"KL should be one value per item, got shape {tuple(got.shape)}"
    assert abs(got.reshape(-1)[0].item() - 1.306853) < 1e-5, (
        f"KL(N([1, 0], diag[1, 4]) || N(0, I)) is 1.306853, got {got.reshape(-1)[0].item():.6f}")


def test_reparameterize_has_the_right_mean_and_spread(nb):
    torch.manual_seed(0)
    z = nb.reparameterize(torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(9.0)))
    assert abs(z.mean().item() - 2.0) < 0.1 and abs(z.std().item() - 3.0) < 0.1, (
        f"z = mu + sigma * eps with mu 2, sigma 3 should have mean 2 and std 3, got {z.mean().item():.3f} and {z.std().item():.3f}")


def test_negative_elbo_is_reconstruction_plus_kl(nb):
    torch.manual_seed(1)
    model = nb.CVAE()
    x = torch.rand(3, 1, 32, 32).round()
    labels = torch.tensor([0, 2, 4])
    got = nb.negative_elbo(model, x, labels, sample=False)
    mu, logvar = model.encode(x, labels)
    recon = torch.nn.functional.binary_cross_entropy_with_logits(model.decode_logits(mu, labels), x.flatten(1),
                                                                 reduction="none").sum(1)
    want = recon + 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)
    assert got.shape == (3,) and torch.allclose(got, want, rtol=1e-4), (
        f"negative ELBO per item (sample=False: z = mu) should be {want.tolist()}, got {got.tolist()}")


def test_auc_takes_ood_as_positive(nb):
    scores = [0.1, 0.2, 0.3, 0.25, 0.4]
    is_ood = [0, 0, 0, 1, 1]
    got = nb.roc_auc(scores, is_ood)
    assert abs(got - 5 / 6) < 1e-6, (f"AUC with OOD positive should be 0.8333, got {got:.4f}"
                                     + (": the classes are swapped" if abs(got - 1 / 6) < 1e-6 else ""))


def test_threshold_at_the_roc_point_closest_to_the_corner(nb):
    got = nb.choose_threshold([0.1, 0.2, 0.3, 0.25, 0.4, 0.05, 0.35, 0.45], [0, 0, 0, 1, 1, 0, 0, 1])
    # ROC points (fpr, tpr): 0.45 -> (0, 1/3), 0.4 -> (0, 2/3), 0.25 -> (2/5, 1): the closest to (0, 1) is 0.4
    assert abs(got - 0.4) < 1e-9, f"the ROC point closest to (0, 1) has threshold 0.4, got {got}"


def test_classify_and_anomaly_score_use_the_class_scores(nb, monkeypatch):
    table = torch.tensor([[5.0, 1.0, 9.0, 9.0, 9.0], [3.0, 8.0, 8.0, 2.5, 8.0]])
    monkeypatch.setattr(nb, "class_scores", lambda model, x, *a, **k: table)
    assert torch.as_tensor(nb.classify(None, None)).tolist() == [1, 3], "classify: the class with the lowest negative ELBO"
    assert torch.allclose(torch.as_tensor(nb.anomaly_score(None, None)).float(), torch.tensor([1.0, 2.5])), (
        "anomaly_score: the lowest negative ELBO over the classes")


def test_generate_follows_the_requested_class(nb):
    torch.manual_seed(2)
    model = nb.CVAE()
    z = torch.randn(4, nb.LATENT_DIM)
    a = nb.generate(model, torch.tensor([0, 0, 0, 0]), z)
    b = nb.generate(model, torch.tensor([3, 3, 3, 3]), z)
    assert tuple(a.shape) == (4, 1, 32, 32) and a.min() >= 0 and a.max() <= 1, "generate: (N, 1, 32, 32) images in [0, 1]"
    assert (a - b).abs().max() > 1e-4, "the same z with another class must give another image: pass the labels to the decoder"
