"""Class analytics on the batch index page: per-item distributions and pass rates, the tests
failed most, failed core items a group or the cap hid, and flagged submissions; computed from
reports scored by the real rubric code, and the page checked in a real browser."""

from __future__ import annotations

import csv

import pytest

from grader.course import catalog
from grader.reports.analytics import (
    SIMILARITY_COLUMNS,
    SimilarPair,
    class_analytics,
    failed_tests,
    flagged,
    hidden_failures,
    item_stats,
    numeric_value,
    read_similarity,
)
from grader.reports.report import Report, write_gradebook
from grader.verdict.checker import CaseOutcome, HiddenTestsOutcome
from grader.verdict.evidence import Evidence
from grader.verdict.parse import Summary
from grader.verdict.score import score

from conftest import CHROMIUM, REPO, chromium_dom

DATASET = "fashion_mnist"
TESTS = {"groupdro_tests": ["test_q_update", "test_weighted_sum", "test_eval_mode"],
         "irm_tests": ["test_penalty_value", "test_penalty_per_env", "test_graph_kept", "test_erm_term"],
         "vrex_tests": ["test_variance"], "andmask_tests": ["test_mask", "test_rescale"]}
LOGS = {"groupdro": "groupDRO_log.txt", "irm": "IRM_log.txt", "vrex": "VREx_log.txt"}


@pytest.fixture(scope="module")
def rubric():
    return catalog.load("colored_mnist", REPO).rubric


def graded(rubric, stem, accuracy: dict[str, float], failing: set[str] = frozenset(), flags=(), name=None) -> Report:
    """A report scored by the real rubric code from made-up evidence: accuracies per method
    (absent: no Summary line), and the hidden tests that fail."""
    summaries = {log: Summary({"Accuracy_testmean": accuracy[m]}) if m in accuracy else Summary(None, "no Summary line")
                 for m, log in LOGS.items()}
    tests = {item: HiddenTestsOutcome([CaseOutcome(t, t not in failing, "" if t not in failing else
                                                   "assert 0.25 == 0.5; AssertionError: values differ") for t in names])
             for item, names in TESTS.items()}
    result = score(rubric, DATASET, Evidence(summaries=summaries, tests=tests))
    student_id, _, default_name = stem.partition("_")
    return Report(source=f"{stem}.zip", stem=stem, student_id=student_id, name=name or default_name,
                  assignment="colored_mnist", dataset=DATASET, status="graded", score=result.score,
                  max_score=result.max_score, bonus_points=result.bonus_points, items=result.items, flags=list(flags))


ALL_TESTS = {t for names in TESTS.values() for t in names}


@pytest.fixture(scope="module")
def reports(rubric):
    return [
        graded(rubric, "1001_full", {"groupdro": 0.70, "irm": 0.74, "vrex": 0.65},
               flags=["submitted logs differ from re-run: IRM_log.txt Accuracy_testmean "
                      "submitted 0.9000, re-run 0.7400"]),
        # Group DRO's accuracy fails, but its unit tests (5) plus IRM (15) make full marks anyway.
        graded(rubric, "1002_irmonly", {"groupdro": 0.50, "irm": 0.74}, failing={"test_variance", "test_mask"}),
        # IRM's accuracy fails; its partly passing unit tests are what the IRM group counts.
        graded(rubric, "1003_weak", {"groupdro": 0.62, "irm": 0.50},
               failing={"test_penalty_per_env", "test_graph_kept", "test_mask", "test_variance"},
               name="<img src=x onerror=alert(1)>"),
        # The untouched skeleton: no Summary lines, every test fails.
        graded(rubric, "1004_skeleton", {}, failing=ALL_TESTS),
        Report(source="1005_bad.zip", stem="1005_bad", student_id="1005", name="bad", assignment="colored_mnist",
               status="rejected", message="not a readable zip archive"),
    ]


def by_id(stats):
    return {s.id: s for s in stats}


def test_reports_are_what_the_rubric_gives(reports):
    assert [r.score for r in reports] == [20, 20, 13.5, 0, 0]  # 1003: 10 + 2.5 + ANDMask bonus 1


def test_item_distribution_pass_rate_and_thresholds_reached(reports):
    stats = by_id(item_stats(reports))
    assert list(stats) == ["groupdro_accuracy", "groupdro_tests", "irm_accuracy", "irm_tests", "vrex_accuracy",
                           "vrex_tests", "andmask_tests"]
    gdro = stats["groupdro_accuracy"]
    assert gdro.graded == 4  # the rejected submission has no items
    assert gdro.values == [0.70, 0.50, 0.62] and gdro.no_value == 1
    assert (gdro.counts["passed"] == 1 and gdro.counts["partial"] == 1 and gdro.counts["failed"] == 1
            and gdro.counts["error"] == 1)
    assert gdro.pass_rate == 0.25 and gdro.credit_rate == 0.5
    assert [(t.label, t.reached) for t in gdro.thresholds] == [(">= 0.61: 10 pts", 2), (">= 0.63: 15 pts", 1)]
    assert gdro.mean_points == 25 / 4
    vrex = stats["vrex_accuracy"]
    assert [(t.label, t.reached) for t in vrex.thresholds] == [("> 0.66: 2 pts", 0)]  # nobody reached it
    irm_tests = stats["irm_tests"]
    assert (irm_tests.values == [1.0, 1.0, 0.5, 0.0]
            and [(t.label, t.reached) for t in irm_tests.thresholds] == [("all pass", 2)])


def test_numeric_value_of_each_kind(reports):
    items = {i.id: i for i in reports[2].items}
    assert numeric_value(items["groupdro_accuracy"]) == 0.62
    assert numeric_value(items["irm_tests"]) == 0.5
    assert numeric_value(reports[3].items[0]) is None


def test_tests_failed_most_come_first_and_failure_text_is_not_a_test(reports):
    ranked = failed_tests(reports)
    assert [(f.test, f.failed, f.out_of) for f in ranked[:2]] == [("test_mask", 3, 4), ("test_variance", 3, 4)]
    assert ranked[0].stems == ["1002_irmonly", "1003_weak", "1004_skeleton"]
    counts = {f.test: f.failed for f in ranked}
    assert counts["test_penalty_per_env"] == 2 and counts["test_q_update"] == 1
    assert not any("AssertionError" in f.test or "assert" == f.test for f in ranked)


def test_failed_core_items_hidden_by_a_group_or_the_cap(reports):
    hidden = {(h.stem, h.item_id): h for h in hidden_failures(reports)}
    assert set(hidden) == {("1002_irmonly", "groupdro_accuracy"), ("1003_weak", "irm_accuracy")}
    full = hidden[("1002_irmonly", "groupdro_accuracy")]
    assert "group groupDRO counted groupdro_tests (5/5 pts)" in full.why and "full marks anyway" in full.why
    assert full.value == "0.5000" and full.status == "failed"
    weak = hidden[("1003_weak", "irm_accuracy")]
    assert "counted irm_tests (2.5/5 pts)" in weak.why and "full marks" not in weak.why
    # The skeleton failed every core item too, but its total shows it: nothing was hidden.
    assert not any(stem == "1004_skeleton" for stem, _ in hidden)


def test_flagged_by_report_flags_and_similarity(reports):
    pairs = [SimilarPair(1, "1001_full", "1003_weak", 0.91, False),
             SimilarPair(2, "1002_irmonly", "9001_old", 0.8, True)]
    flags = {f.stem: f for f in flagged(reports, pairs)}
    assert set(flags) == {"1001_full", "1002_irmonly", "1003_weak"}
    assert flags["1001_full"].reasons[0].startswith("submitted logs differ from re-run")
    assert "similarity 0.91 with 1003_weak" in flags["1001_full"].reasons and flags["1001_full"].similar_ranks == [1]
    assert flags["1003_weak"].reasons == ["similarity 0.91 with 1001_full"]
    assert flags["1002_irmonly"].reasons == ["similarity 0.80 with 9001_old (earlier term)"]


def write_similarity_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, SIMILARITY_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in SIMILARITY_COLUMNS})


def test_read_similarity_keeps_the_pairs_above_threshold(tmp_path):
    path = tmp_path / "similarity.csv"
    write_similarity_csv(path, [
        {"rank": 1, "submission_a": "1001_full", "submission_b": "1003_weak", "similarity": "0.9100",
         "b_from_archive": "no", "above_threshold": "yes"},
        {"rank": 2, "submission_a": "1001_full", "submission_b": "1004_skeleton", "similarity": "0.0000",
         "b_from_archive": "no", "above_threshold": "no"}])
    assert read_similarity(path) == [SimilarPair(1, "1001_full", "1003_weak", 0.91, False)]
    assert read_similarity(tmp_path / "absent.csv") == []
    path.write_text("rank,submission_a\nx,y\n")
    assert read_similarity(path) == []


@pytest.fixture
def index_page(tmp_path, reports):
    out = tmp_path / "out"
    out.mkdir()
    write_similarity_csv(out / "similarity.csv", [
        {"rank": 1, "submission_a": "1001_full", "submission_b": "1003_weak", "similarity": "0.9100",
         "b_from_archive": "no", "above_threshold": "yes"}])
    (out / "similarity.html").write_text("<!doctype html><title>s</title>")
    write_gradebook(reports, out)
    return out / "index.html"


def test_index_page_shows_each_item_and_the_flags(index_page, reports):
    html = index_page.read_text()
    a = class_analytics(reports)
    assert html.count('<svg class="dist"') == len(a.items) + 1  # one per item and the total score
    assert "&gt;= 0.63: 15 pts (1 reached)" in html and "&gt; 0.66: 2 pts: nobody" in html
    assert "25%" in html  # Group DRO accuracy's pass rate
    assert '<a href="./1002_irmonly/report.html">' in html and "full marks anyway" in html
    assert "test_mask" in html and "3 of 4" in html
    assert "similarity 0.91 with 1001_full" in html and 'href="similarity.html#pair-1"' in html
    assert "submitted logs differ from re-run" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "4 of 5 submissions graded; 1 rejected" in html


def test_plots_are_readable_without_colour(index_page):
    html = index_page.read_text()
    svg = html[html.index('<svg class="dist"'):]
    svg = svg[:svg.index("</svg>")]
    # Bars carry their counts and threshold lines their rule as text; the line is dashed.
    assert 'stroke-dasharray="5,3"' in svg and "full marks 20 (2 reached)" in svg
    assert 'text-anchor="middle">2</text>' in svg and "<title>" in svg


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run.sh test installs it)")
def test_index_page_loads_in_headless_chromium(index_page, tmp_path):
    dom, console_errors = chromium_dom(index_page, tmp_path / "profile")
    assert console_errors == [], console_errors
    assert "Class analytics" in dom and "25%" in dom and "nobody" in dom and "full marks anyway" in dom
    assert dom.count('class="dist"') == 8
    assert "<img src=x" not in dom


def test_failed_tests_come_from_the_recorded_cases_whatever_their_names(rubric):
    """Cases named without "test" (a rubric's declared cases, @case functions), every one failed."""
    names = {"groupdro_tests": ["q_update", "weighted_sum"], "irm_tests": ["penalty_value"], "vrex_tests": ["variance"],
             "andmask_tests": ["mask_keeps_agreeing_components", "rescaled_by_fraction_kept"]}
    tests = {item: HiddenTestsOutcome([CaseOutcome(n, False, "expected 0.5; got 0.25") for n in cases])
             for item, cases in names.items()}
    result = score(rubric, DATASET, Evidence(tests=tests))
    reports = [Report(source=f"{n}_s.zip", stem=f"{n}_s", student_id=str(n), assignment="colored_mnist",
                      status="graded", score=result.score, max_score=result.max_score, items=result.items)
               for n in (1, 2)]
    ranked = failed_tests(reports)
    assert {(f.item_id, f.test) for f in ranked} == {(i, n) for i, cases in names.items() for n in cases}
    assert all(f.failed == 2 and f.out_of == 2 for f in ranked)
    assert "got 0.25" not in {f.test for f in ranked}  # a failure's own "; " is not a case
