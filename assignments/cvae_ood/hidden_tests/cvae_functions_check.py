"""Checker of cvae_functions.py (trusted course code, runs in the grader; numpy only). Cases not
listed here must equal the reference notebook's outputs. A hint is added only when the
student's value is the one the mistake it names gives."""

import numpy as np

from grader.verdict.checker import close, compare, fmt, scalar

PIXELS = 32 * 32

HINTS = {
    "kl_divergence_value": [("kl", [2.613706], "twice the expected value: the factor 1/2 is missing")],
    "auc_takes_ood_as_positive": [("auc", 1 / 6, "1 - AUC: the classes are swapped, OOD is the positive class")],
    # On these ROC points the two usual criteria disagree (see the runner).
    "threshold_is_the_roc_point_closest_to_the_corner": [
        ("threshold_where_criteria_disagree", 0.7,
         "that is the point of largest Youden's J (tpr - fpr); "
         "the assignment asks for the ROC point closest to (0, 1)")],
}


def check_reparameterize_has_the_right_mean_and_spread(got, expected):
    # A random draw: a student may sample the noise another way; its statistics decide.
    if not close(got.get("shape"), expected["shape"], 0, 0):
        return f"z should have mu's shape {fmt(expected['shape'])}, got {fmt(got.get('shape'))}"
    mean, std = scalar(got.get("mean")), scalar(got.get("std"))
    if abs(mean - 2.0) < 0.1 and abs(std - 3.0) < 0.1:
        return None
    message = f"z = mu + sigma * eps with mu 2, sigma 3 should have mean 2 and std 3, got {mean:.3f} and {std:.3f}"
    if abs(mean - 2.0) < 0.1 and abs(std - 9.0) < 0.3:
        message += " (that spread is exp(logvar): sigma is exp(logvar / 2))"
    elif abs(mean - 2.0) < 0.1 and abs(std - 1.0) < 0.05:
        message += " (the noise is not scaled by sigma)"
    return message


def check_negative_elbo_is_summed_reconstruction_plus_kl(got, expected):
    problem = compare(got, expected, rtol=1e-4, atol=1e-4, keys=["neg_elbo"])
    if problem is None:
        return None
    value = got.get("neg_elbo")
    recon, kl = expected["recon_sum"], expected["kl"]
    for wrong, hint in [(recon / PIXELS + kl,
                         "the reconstruction is averaged over pixels: sum it over the 1024 pixels"),
                        (recon, "the KL term is missing"),
                        (recon + 2 * kl, "the KL term is doubled (the factor 1/2 is missing)")]:
        if close(value, wrong, rtol=1e-4, atol=1e-4):
            return f"{problem} ({hint})"
    return problem


def check_generate_follows_the_requested_class(got, expected):
    a, b = got.get("class_0"), got.get("class_3")
    shape = expected["class_0"].shape
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == shape and b.shape == shape):
        return f"generate should give images of shape {shape}, got {fmt(a)}"
    if not (np.all(np.isfinite(a)) and a.min() >= 0 and a.max() <= 1):
        return f"generate should give pixel values in [0, 1], got values from {a.min():.4g} to {a.max():.4g}"
    if np.abs(a - b).max() <= 1e-4:
        return "the same z with another class gave the same image: pass the labels to the decoder"
    return None
