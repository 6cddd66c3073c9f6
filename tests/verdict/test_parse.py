import math

import pytest

from grader.verdict.parse import parse_curves, parse_log, parse_summary_text

PLAIN = "Summary: {'Accuracy_testmean': 0.61, 'Accuracy_teststd': 0.02}"
NUMPY = "Summary: {'Accuracy_testmean': np.float64(0.61), 'Accuracy_teststd': np.float64(0.02)}"


@pytest.mark.parametrize("line", [PLAIN, NUMPY, NUMPY.replace("np.", "numpy."), NUMPY.replace("float64", "float32")])
def test_both_numeric_reprs_parse(line):
    summary = parse_summary_text("training...\n" + line + "\n")
    assert summary.ok and summary.values == pytest.approx({"Accuracy_testmean": 0.61, "Accuracy_teststd": 0.02})


def test_last_summary_line_wins_when_duplicated():
    text = "Summary: {'acc': 0.9}\nmore training\nSummary: {'acc': 0.5}\n"
    summary = parse_summary_text(text)
    assert summary.values == {"acc": 0.5} and summary.lines_found == 2


def test_missing_summary_is_an_error_not_a_crash():
    summary = parse_summary_text("Traceback (most recent call last):\nNotImplementedError\n")
    assert not summary.ok and "no 'Summary" in summary.error


@pytest.mark.parametrize("garbage", [
    "Summary: {'acc': 0.5",                      # cut off
    "Summary: [0.5]",                            # not a dict
    "Summary: {'acc': __import__('os').getcwd()}",  # code, never evaluated
    "Summary: {'acc': 'high'}",
    "Summary: {1: 0.5}",
    "Summary: {'acc': np.float64(0.5) + 1}",
])
def test_garbage_summary_is_reported(garbage):
    summary = parse_summary_text(garbage)
    assert not summary.ok and summary.error.startswith("malformed Summary line")


def test_negative_nan_and_ints():
    summary = parse_summary_text("Summary: {'a': -0.5, 'b': nan, 'c': 3, 'd': np.float64(nan)}")
    assert summary.values["a"] == -0.5 and math.isnan(summary.values["b"]) and summary.values["c"] == 3.0
    assert math.isnan(summary.values["d"])


def test_curves_are_collected_and_bad_points_skipped():
    text = "Curve: {'step': 1, 'loss': 0.9}\nCurve: {'step': 2, 'loss': 0.5}\nCurve: nonsense\n"
    assert parse_curves(text) == {"step": [1.0, 2.0], "loss": [0.9, 0.5]}


def test_unwritten_log(tmp_path):
    summary = parse_log(tmp_path / "IRM_log.txt")
    assert not summary.ok and "IRM_log.txt was not written" in summary.error
