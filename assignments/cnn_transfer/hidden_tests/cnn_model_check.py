"""Checker of the CNN's hidden tests (runs in the grader, never imports student code).
The architecture's numbers are the course's (../shared/reference/assignments.md, section 2):
the reference solution's recorded outputs must agree with them, and the student's with both."""

import math

import numpy as np

from grader.verdict.checker import fmt, scalar

LAYER_OUTPUTS = {"conv1": (16, 16, 16), "conv2": (32, 8, 8), "conv3": (64, 4, 4), "conv4": (128, 2, 2)}
WEIGHT_STD = {"conv1": math.sqrt(2 / 75), "conv2": math.sqrt(2 / 400), "conv3": math.sqrt(2 / 800),
              "conv4": math.sqrt(2 / 1600), "fc1": math.sqrt(1 / 256), "fc2": math.sqrt(1 / 32)}
MISSING = "CNN has no layer named {} (keep the names conv1..conv4, fc1, fc2)"


def _missing(value):
    return isinstance(value, str) and value == "missing"


def _shape(value):
    if isinstance(value, np.ndarray) and value.ndim == 1 and np.all(np.isfinite(value)):
        return tuple(int(v) for v in value)
    return None


def _count(value):
    number = scalar(value)
    return int(number) if math.isfinite(number) and number == int(number) else None


def check_output_shape_for_a_batch_of_four(got, expected):
    shape, want = _shape(got.get("shape")), _shape(expected["shape"])
    if shape != want:
        return (f"a batch of 4 images should give logits of shape {want}, "
                f"got {shape if shape else fmt(got.get('shape'))}")
    return None


def check_layer_output_sizes(got, expected):
    wrong = []
    for name in LAYER_OUTPUTS:
        value = got.get(name)
        if _missing(value):
            return MISSING.format(name)
        shape, want = _shape(value), _shape(expected[name])
        if shape != want:
            wrong.append(f"{name} {'x'.join(map(str, shape)) if shape else fmt(value)} "
                         f"(expected {'x'.join(map(str, want))})")
    if not wrong:
        return None
    message = "layer outputs (channels x height x width): " + ", ".join(wrong)
    conv1 = _shape(got.get("conv1"))
    if conv1 and conv1[1:] == (15, 15):
        message += " (15x15 after conv1 is what padding 1 gives: 5x5 kernels with stride 2 need padding 2)"
    elif conv1 and conv1[1:] == (28, 28):
        message += " (28x28 after conv1 is stride 1 without padding: use stride 2, padding 2)"
    return message


def check_parameters_per_layer(got, expected):
    wrong = []
    for name, value in expected.items():
        recorded = got.get(name)
        if _missing(recorded):
            return MISSING.format(name)
        count, want = _count(recorded), _count(value)
        if count != want:
            wrong.append(f"expected {want} parameters in {name}, got {count if count is not None else fmt(recorded)}")
    return "; ".join(wrong) or None


def check_initial_weight_std(got, expected):
    wrong = []
    for name, want in WEIGHT_STD.items():
        stats = got.get(name)
        if _missing(stats):
            return MISSING.format(name)
        if not hasattr(stats, "get"):
            return f"{name}: no weight statistics were recorded"
        std, mean = scalar(stats.get("std")), scalar(stats.get("mean"))
        # written so that NaN fails: only finite statistics within the bounds pass
        if not (abs(std - want) <= 0.05 * want and abs(mean) <= 0.1 * want):
            wrong.append(f"{name} std {std:.4f} (expected {want:.4f}), mean {mean:.4f}")
    if wrong:
        return ("initial weights should be normal(0, variance 2/fan_in; 1/256 for fc1, 1/32 for fc2) over ten "
                "initialisations: " + ", ".join(wrong))
    return None


def check_biases_start_at_zero(got, expected):
    nonzero = []
    for name in WEIGHT_STD:
        value = got.get(name)
        if _missing(value) or value is None:
            nonzero.append(f"{name} (no bias)")
        elif scalar(value) != 0.0:  # NaN is != 0.0 too: it fails
            nonzero.append(f"{name} (largest |bias| {fmt(value)})")
    return f"every layer needs a bias initialised to 0; not so for {', '.join(nonzero)}" if nonzero else None


def check_count_parameters_counts_trainable_only(got, expected):
    everything, frozen = _count(got.get("all_trainable")), _count(got.get("conv4_frozen"))
    want_all, want_frozen = _count(expected["all_trainable"]), _count(expected["conv4_frozen"])
    if everything != want_all:
        return (f"count_parameters(CNN()) should be {want_all}, "
                f"got {everything if everything is not None else fmt(got.get('all_trainable'))}")
    if frozen != want_frozen:
        return (f"count_parameters must skip frozen parameters (requires_grad False): with conv4 frozen expected "
                f"{want_frozen}, got {frozen if frozen is not None else fmt(got.get('conv4_frozen'))}")
    return None
