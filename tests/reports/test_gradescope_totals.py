"""results.json laid out so that what a student reads per test agrees with the total: the tests'
max_score add up to the total Gradescope shows (groups counted once, bonus as extra credit, the
cap's share), and their scores add up to the score (the cap and the late penalty as lines of their own)."""

import json

import jsonschema
import pytest

from grader.course import catalog
from grader.reports.gradescope import results_json
from grader.reports.report import Report
from grader.verdict.checker import CaseOutcome, HiddenTestsOutcome
from grader.verdict.evidence import Evidence
from grader.verdict.late import LateOutcome
from grader.verdict.parse import Summary
from grader.verdict.score import score

from conftest import REPO

SCHEMA = json.loads((REPO / "grader" / "reports" / "schemas" / "gradescope_results.schema.json").read_text())
LOGS = {"groupdro": "groupDRO_log.txt", "irm": "IRM_log.txt", "vrex": "VREx_log.txt"}
CASES = {"groupdro_tests": ["q_update", "weighted_sum"], "irm_tests": ["penalty_value", "graph_kept"],
         "vrex_tests": ["variance"], "andmask_tests": ["mask_keeps_agreeing_components", "rescaled_by_fraction_kept"]}


@pytest.fixture(scope="module")
def rubric():
    return catalog.load("colored_mnist", REPO).rubric


def graded(rubric, accuracy: dict[str, float], failing=frozenset()) -> Report:
    summaries = {log: Summary({"Accuracy_testmean": accuracy[m]}) if m in accuracy else Summary(None, "no Summary line")
                 for m, log in LOGS.items()}
    tests = {item: HiddenTestsOutcome([CaseOutcome(c, c not in failing, "wrong" if c in failing else "")
                                       for c in names])
             for item, names in CASES.items()}
    result = score(rubric, "mnist", Evidence(summaries=summaries, tests=tests))
    return Report(source="1_a.zip", stem="1_a", student_id="1", name="a", assignment="colored_mnist", dataset="mnist",
                  seed=1, status="graded", score=result.score, max_score=result.max_score,
                  bonus_points=result.bonus_points, items=result.items)


CASES_OF_SCORES = {
    "everything": ({"groupdro": 0.7, "irm": 0.7, "vrex": 0.7}, frozenset()),  # 15 + 15 + bonus: capped at 20
    "one method": ({"groupdro": 0.7}, frozenset()),  # 15, under the cap
    "tests only": ({}, {"q_update"}),  # each group counts its tests item
    "nothing": ({}, frozenset(c for cs in CASES.values() for c in cs)),
}


@pytest.mark.parametrize("case", CASES_OF_SCORES)
def test_max_scores_add_up_to_the_total_and_scores_to_the_score(rubric, case):
    report = graded(rubric, *CASES_OF_SCORES[case])
    for ta in (False, True):
        results = results_json(report, ta=ta)
        jsonschema.validate(results, SCHEMA)
        assert report.max_score == 20
        assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(report.max_score), results["tests"]
        assert sum(t["score"] for t in results["tests"]) == pytest.approx(report.score), results["tests"]
        assert results["score"] == report.score


def test_the_cap_is_stated_and_shares_are_scaled_to_it(rubric):
    report = graded(rubric, {"groupdro": 0.7, "irm": 0.7, "vrex": 0.7})
    assert report.score == 20
    results = results_json(report)
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["Group DRO test accuracy"]["max_score"] == 10 and by_name["IRM test accuracy"]["max_score"] == 10
    assert by_name["Group DRO unit tests (partial credit)"]["max_score"] == 0  # an alternative in its group
    assert by_name["V-REx test accuracy (bonus)"]["max_score"] == 0  # extra credit
    assert by_name["Cap: at most 20 points count"]["score"] == -14  # 15 + 15 + 2 + 2 bonus = 34
    assert "at most 20 count" in results["output"] and "extra credit" in results["output"]
    assert "(bonus) (bonus)" not in json.dumps(results)


def test_an_item_its_group_did_not_count_adds_nothing_and_says_what_it_earned(rubric):
    report = graded(rubric, {"groupdro": 0.7})
    tests = {t["name"]: t for t in results_json(report)["tests"]}
    unit = tests["Group DRO unit tests (partial credit)"]
    assert unit["score"] == 0 and "Not counted (5 points)" in unit["output"]
    assert tests["IRM unit tests (partial credit)"]["score"] == 5  # IRM's accuracy is missing: its tests count


def test_hidden_items_and_the_late_penalty_keep_the_sums(rubric):
    report = graded(rubric, {"groupdro": 0.7}, {"q_update"})
    for item in report.items:
        if item.id == "irm_tests":
            item.visibility = "hidden"
    report.late = LateOutcome(due="2026-01-01T00:00:00+00:00", submitted_at=None, units_late=1, unit="day", penalty=2,
                              score_before=report.score, note="1 day late: -2")
    report.score -= 2
    results = results_json(report)
    jsonschema.validate(results, SCHEMA)
    names = [t["name"] for t in results["tests"]]
    assert ("IRM unit tests (partial credit)" not in names and "1 more item(s), not shown" in names
            and "Late penalty" in names)
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(report.max_score)
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(report.score)
