import pytest

from grader.course.spec import Rubric
from grader.verdict.checker import CaseOutcome, HiddenTestsOutcome
from grader.verdict.evidence import Evidence, ParamCountOutcome
from grader.verdict.parse import Summary
from grader.verdict.score import score

COURSE = {
    "assignment": "x",
    "cap": 20,
    "items": [
        {"id": "dro", "title": "DRO", "kind": "metric", "log": "dro.txt", "key": "acc",
         "tiers": [{"op": ">=", "threshold": 0.60, "points": 15}, {"op": ">=", "threshold": 0.55, "points": 10}]},
        {"id": "irm", "title": "IRM", "kind": "metric", "log": "irm.txt", "key": "acc",
         "tiers": [{"op": ">", "threshold": 0.60, "points": 15}, {"op": ">", "threshold": 0.55, "points": 10}]},
    ],
}


def rubric(**changes) -> Rubric:
    return Rubric.model_validate({**COURSE, **changes})


def logs(**values) -> Evidence:
    return Evidence(summaries={f"{k}.txt": Summary({"acc": v}) for k, v in values.items()})


def points(result):
    return {i.id: i.points for i in result.items}


@pytest.mark.parametrize("value,expected", [(0.6001, 15), (0.60, 15), (0.5999, 10), (0.55, 10), (0.5499, 0)])
def test_ge_tiers_above_at_below(value, expected):
    assert points(score(rubric(), None, logs(dro=value, irm=0)))["dro"] == expected


@pytest.mark.parametrize("value,expected", [(0.6001, 15), (0.60, 10), (0.5999, 10), (0.55, 0), (0.5501, 10)])
def test_gt_tiers_above_at_below(value, expected):
    assert points(score(rubric(), None, logs(dro=0, irm=value)))["irm"] == expected


def test_total_is_capped():
    result = score(rubric(), None, logs(dro=0.7, irm=0.7))
    assert points(result) == {"dro": 15, "irm": 15} and result.score == 20 and result.max_score == 20


def test_items_report_value_threshold_and_status():
    result = score(rubric(), None, logs(dro=0.57, irm=0.5))
    dro, irm = result.items
    assert (dro.value, dro.threshold, dro.points, dro.max_points, dro.status) == (0.57, ">= 0.55", 10, 15, "partial")
    assert (irm.value, irm.threshold, irm.points, irm.status) == (0.5, "> 0.55", 0, "failed")
    assert "misses > 0.55" in irm.message


def test_missing_log_and_missing_key_score_zero_with_reason():
    ev = Evidence(summaries={"dro.txt": Summary(None, "no 'Summary: {...}' line in the log"),
                             "irm.txt": Summary({"loss": 0.3})})
    dro, irm = score(rubric(), None, ev).items
    assert dro.status == "error" and dro.points == 0 and "no 'Summary" in dro.message
    assert irm.status == "error" and "has no 'acc'" in irm.message


def test_nan_metric_scores_zero():
    dro = score(rubric(), None, logs(dro=float("nan"), irm=0)).items[0]
    assert dro.points == 0 and dro.status == "failed"


def test_tiers_per_dataset():
    r = rubric(items=[{**COURSE["items"][0],
                       "tiers": {"mnist": COURSE["items"][0]["tiers"],
                                 "fashion_mnist": [{"op": ">=", "threshold": 0.65, "points": 15}]}}])
    assert points(score(r, "mnist", logs(dro=0.62)))["dro"] == 15
    assert points(score(r, "fashion_mnist", logs(dro=0.62)))["dro"] == 0


def test_group_scores_its_best_item_and_tests_give_partial_credit():
    r = rubric(items=[
        {**COURSE["items"][0], "group": "dro"},
        {"id": "dro_tests", "title": "tests", "kind": "tests", "runner": "hidden_tests/t.py", "points": 5,
         "group": "dro", "weights": {"test_a": 3}},
    ])
    ev = logs(dro=0.3)
    ev.tests["dro_tests"] = HiddenTestsOutcome([CaseOutcome("test_a", True),
                                                CaseOutcome("test_b", False, "q is wrong")])
    result = score(r, None, ev)
    assert points(result) == {"dro": 0, "dro_tests": 3.75} and result.score == 3.75
    assert "1/2 tests passed; test_b: q is wrong" in result.items[1].message
    ev = logs(dro=0.7)
    ev.tests["dro_tests"] = HiddenTestsOutcome([CaseOutcome("test_a", True)])
    result = score(r, None, ev)
    assert result.score == 15 and [i.counted for i in result.items] == [True, False]


def test_bonus_counts_but_never_passes_the_cap():
    bonus = {"id": "b", "title": "bonus", "kind": "file_present", "path": "extra.txt", "points": 3, "bonus": True}
    r = rubric(items=COURSE["items"] + [bonus])
    ev = logs(dro=0.56, irm=0.4)
    ev.present = {"extra.txt"}
    result = score(r, None, ev)
    assert result.score == 13 and result.bonus_points == 3 and result.max_score == 20
    ev = logs(dro=0.7, irm=0.7)
    ev.present = {"extra.txt"}
    assert score(r, None, ev).score == 20


def test_hidden_tests_that_did_not_run():
    r = rubric(items=[{"id": "t", "title": "tests", "kind": "tests", "runner": "hidden_tests/t.py", "points": 5}])
    item = score(r, None,
                 Evidence(tests={"t": HiddenTestsOutcome(error="hidden tests did not run: exit code 1")})).items[0]
    assert item.status == "error" and item.points == 0 and "did not run" in item.message


@pytest.mark.parametrize("count,rule,expected", [
    (303_397, {"exact": 303_397}, 2), (303_398, {"exact": 303_397}, 0),
    (100, {"min": 100, "max": 200}, 2), (200, {"min": 100, "max": 200}, 2), (99, {"min": 100, "max": 200}, 0),
    (201, {"min": 100, "max": 200}, 0), (5, {"max": 10}, 2),
])
def test_param_count_exact_and_range(count, rule, expected):
    r = rubric(items=[{"id": "p", "title": "params", "kind": "param_count", "object": "CNN()",
                       "runner": "hidden_tests/m.py", "case": "cnn", "output": "count",
                       "points": 2, **rule}])
    item = score(r, None, Evidence(params={"p": ParamCountOutcome(count)})).items[0]
    assert item.points == expected and item.value == count


def test_param_count_probe_failure():
    r = rubric(items=[{"id": "p", "title": "params", "kind": "param_count", "object": "CNN()",
                       "runner": "hidden_tests/m.py", "case": "cnn", "output": "count",
                       "points": 2, "exact": 5}])
    item = score(r, None, Evidence(params={"p": ParamCountOutcome(None, "could not build CNN")})).items[0]
    assert item.status == "error" and item.message == "could not build CNN"


def test_file_present():
    r = rubric(items=[{"id": "f", "title": "log", "kind": "file_present", "path": "IRM_log.txt", "points": 1}])
    assert score(r, None, Evidence(present={"IRM_log.txt"})).score == 1
    assert score(r, None, Evidence(present=set())).items[0].message == "IRM_log.txt was not submitted"


def test_skipped_items_score_zero_with_reason():
    r = rubric(items=[{"id": "t", "title": "tests", "kind": "tests", "runner": "hidden_tests/t.py", "points": 5}])
    item = score(r, None, Evidence(skipped={"t": "hidden tests run only when the TA grades"})).items[0]
    assert item.status == "skipped" and item.points == 0


def test_param_count_from_a_trusted_steps_summary():
    r = rubric(items=[{"id": "p", "title": "params", "kind": "param_count", "object": "CNN()", "log": "cnn_log.txt",
                       "key": "parameters", "points": 2, "exact": 5}])
    ev = Evidence(summaries={"cnn_log.txt": Summary({"parameters": 5})}, trusted_logs={"cnn_log.txt"})
    item = score(r, None, ev).items[0]
    assert item.points == 2 and item.value == 5 and "no code of yours ran" in item.computed_by
    missing = score(r, None, Evidence(summaries={"cnn_log.txt": Summary(None, "skipped: no weights")})).items[0]
    assert missing.status == "error" and "skipped: no weights" in missing.message


def test_every_item_says_where_its_value_was_computed():
    r = rubric(items=COURSE["items"] + [{"id": "t", "title": "tests", "kind": "tests", "runner": "hidden_tests/t.py",
                                         "points": 5}])
    ev = logs(dro=0.7, irm=0.7)
    ev.trusted_logs = {"dro.txt"}
    by_id = {i.id: i.computed_by for i in score(r, None, ev).items}
    assert "no code of yours ran" in by_id["dro"] and by_id["irm"] == "from the Summary your run printed"
    assert "reference solution's outputs" in by_id["t"]


def test_every_rubric_item_kind_has_one_scorer():
    """Adding an item kind is its schema and its scorer: a kind without one fails here, not on a student."""
    import typing

    from grader.course.spec import RubricItem
    from grader.verdict.score import SCORERS

    union = typing.get_args(RubricItem)[0]
    kinds = {typing.get_args(model.model_fields["kind"].annotation)[0] for model in typing.get_args(union)}
    assert kinds == set(SCORERS)
