"""The checker side of hidden tests: comparisons, hints, custom checks, untrusted reads."""

from __future__ import annotations

import json

import numpy as np

from grader.course import spec
from grader.verdict.checker import CaseRecord, Outputs, check_item, compare, parse_outputs


def record(**outputs) -> CaseRecord:
    return CaseRecord(outputs=Outputs({k: np.asarray(v, dtype=float) for k, v in outputs.items()}))


def item(**changes) -> spec.TestsItem:
    return spec.TestsItem.model_validate({"id": "t", "title": "tests", "kind": "tests", "runner": "hidden_tests/r.py",
                                          "points": 4, **changes})


def test_compare_names_the_first_output_that_differs():
    expected = record(q=[0.487503, 0.512497], loss=1.512497).outputs
    assert compare(record(q=[0.487503, 0.512497], loss=1.512497).outputs, expected) is None
    assert (compare(record(q=[0.5, 0.5], loss=1.5).outputs, expected)
            == "q: expected [0.487503, 0.512497], got [0.5, 0.5]")
    assert compare(record(q=[0.5], loss=1.5).outputs, expected) == "q: expected shape (2,), got (1,)"
    assert compare(Outputs(loss=np.asarray(1.512497)), expected) == "q: no value recorded"


def test_every_reference_case_is_checked_and_missing_ones_fail(tmp_path):
    expected = {"r::a": record(x=1.0), "r::b": record(x=2.0), "r::c": record(x=3.0)}
    got = {"r::a": record(x=1.0), "r::b": CaseRecord(error="NotImplementedError (model.py:3): TODO")}
    outcome = check_item(item(), tmp_path, got, expected)
    assert [(c.name, c.passed) for c in outcome.cases] == [("a", True), ("b", False), ("c", False)]
    assert outcome.cases[1].message == "raised NotImplementedError (model.py:3): TODO"
    assert outcome.cases[2].message == "did not run"


def test_a_runner_that_failed_to_load_fails_every_case_with_its_reason(tmp_path):
    expected = {"r::a": record(x=1.0), "r::b": record(x=2.0)}
    outcome = check_item(item(), tmp_path, {"r::*": CaseRecord(error="SyntaxError (model.py:2): bad")}, expected)
    assert all(c.message == "raised SyntaxError (model.py:2): bad" for c in outcome.cases)


def test_a_hint_only_when_the_value_is_the_mistake_it_describes(tmp_path):
    (tmp_path / "hidden_tests").mkdir()
    (tmp_path / "hidden_tests" / "r_check.py").write_text(
        'HINTS = {"a": [("loss", 1.5, "q was used before the update")]}\n')
    expected = {"r::a": record(loss=1.512497)}
    wrong_known = check_item(item(checker="hidden_tests/r_check.py"), tmp_path, {"r::a": record(loss=1.5)}, expected)
    wrong_other = check_item(item(checker="hidden_tests/r_check.py"), tmp_path, {"r::a": record(loss=1.7)}, expected)
    assert wrong_known.cases[0].message.endswith("(q was used before the update)")
    assert "q was used" not in wrong_other.cases[0].message


def test_custom_checks_and_odd_recorded_data(tmp_path):
    (tmp_path / "hidden_tests").mkdir()
    (tmp_path / "hidden_tests" / "r_check.py").write_text(
        "def check_a(got, expected):\n    return None if float(got['n']) > 10 else 'n must exceed 10'\n")
    expected = {"r::a": record(n=20.0)}
    assert check_item(item(checker="hidden_tests/r_check.py"), tmp_path, {"r::a": record(n=11.0)},
                      expected).cases[0].passed
    assert not check_item(item(checker="hidden_tests/r_check.py"), tmp_path, {"r::a": record(n=3.0)},
                          expected).cases[0].passed
    odd = {"r::a": CaseRecord(outputs=Outputs(n="a string"))}
    assert "could not be compared" in check_item(item(checker="hidden_tests/r_check.py"), tmp_path, odd,
                                                 expected).cases[0].message


def test_a_broken_reference_is_the_course_s_error_not_a_students_zero(tmp_path):
    outcome = check_item(item(), tmp_path, {}, {"r::a": CaseRecord(error="ValueError: oops")})
    assert outcome.error.startswith("the reference solution fails r::a")


def test_recorded_outputs_parse_arrays_and_special_values():
    data = json.dumps({"r::a": {"outputs": {"v": {"array": [1, "nan", "inf"], "shape": [3]}, "s": "x", "n": 2}},
                       "r::b": {"error": "boom"}}).encode()
    parsed = parse_outputs(data)
    assert np.isnan(parsed["r::a"].outputs["v"][1]) and parsed["r::a"].outputs["v"][2] == np.inf
    assert parsed["r::a"].outputs["s"] == "x" and float(parsed["r::a"].outputs["n"]) == 2
    assert parsed["r::b"].error == "boom"
