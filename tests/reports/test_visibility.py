"""Per-item visibility: a hidden item counts toward the score but never reaches the student's
results.json or page; the TA's report shows everything; metric items feed the leaderboard."""

import datetime as dt
import json

import jsonschema

from grader.reports.gradescope import results_json
from grader.reports.report import load_report
from grader.reports.visibility import shown_to_student
from grader.verdict.score import ItemResult

from conftest import REPO, run_cli, student_files, write_zip

SCHEMA = json.loads((REPO / "grader" / "reports" / "schemas" / "gradescope_results.schema.json").read_text())
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _item(visibility: str) -> ItemResult:
    return ItemResult(id="x", title="X", kind="tests", value=None, threshold=None, points=1, max_points=1,
                      status="passed", message="", visibility=visibility)


def test_visibility_rules():
    before, after = NOW + dt.timedelta(days=1), NOW - dt.timedelta(days=1)
    assert shown_to_student(_item("visible"), now=NOW, due=None, published=False)
    assert not shown_to_student(_item("after_due_date"), now=NOW, due=before, published=False)
    assert shown_to_student(_item("after_due_date"), now=NOW, due=after, published=False)
    assert not shown_to_student(_item("after_published"), now=NOW, due=after, published=False)
    assert shown_to_student(_item("after_published"), now=NOW, due=None, published=True)
    assert not shown_to_student(_item("hidden"), now=NOW, due=after, published=True)


def test_hidden_item_absent_for_the_student_present_for_the_ta(tmp_path, tiny_root, tiny):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    text = rubric.read_text()
    text = text.replace("    title: Hidden tests\n", "    title: Hidden tests\n    visibility: hidden\n")
    text = text.replace("    key: Accuracy_testmean\n    tiers:\n", "    key: Accuracy_testmean\n"
                                                                    "    leaderboard: Accuracy\n    tiers:\n", 1)
    text = text.replace("    title: Parameter count of Net\n", "    title: Parameter count of Net\n"
                                                               "    visibility: after_published\n")
    rubric.write_text(text)
    files = student_files(tiny)
    # A submission that prints a secret into its failure messages: it must not reach the student.
    files["answer.py"] = files["answer.py"].replace("return sum(values) / len(values)",
                                                    "assert len(values) > 1, 'SECRET'\n"
                                                    "    return sum(values) / len(values)")
    write_zip(tmp_path / "20250042_ana.zip", files)
    result = run_cli("--root", str(tiny_root), "grade", str(tmp_path / "20250042_ana.zip"),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "out" / "20250042_ana"
    report = load_report(folder / "report.json")
    hidden = next(i for i in report.items if i.id == "answer_tests")
    assert hidden.visibility == "hidden" and "SECRET" in hidden.message

    student = json.loads((folder / "results.json").read_text())
    jsonschema.validate(student, SCHEMA)
    assert "Hidden tests" not in json.dumps(student) and "SECRET" not in json.dumps(student)
    assert student["score"] == report.score  # the hidden item still counts
    assert {t["name"]: t["visibility"] for t in student["tests"]}["Parameter count of Net"] == "after_published"
    assert student["leaderboard"] == [{"name": "Accuracy", "value": report.items[0].value, "order": "desc"}]

    page = (folder / "student.html").read_text()
    assert "Hidden tests" not in page and "Parameter count of Net" not in page and "Accuracy from the log" in page
    assert 'id="withheld"' in page

    ta = results_json(report, ta=True)
    jsonschema.validate(ta, SCHEMA)
    assert {t["name"]: t["visibility"] for t in ta["tests"]}["Hidden tests"] == "hidden"
    ta_page = (folder / "report.html").read_text()
    assert "Hidden tests" in ta_page and "hidden" in ta_page


def test_the_root_cause_is_stated_once_at_the_top_and_items_stay_short(tmp_path, tiny_root, tiny):
    files = student_files(tiny)
    files["answer.py"] = files["answer.py"].replace("def mean(values):", "def mean(values)")  # a SyntaxError
    write_zip(tmp_path / "20250042_ana.zip", files)
    run_cli("--root", str(tiny_root), "grade", str(tmp_path / "20250042_ana.zip"), "--out", str(tmp_path / "out"))
    folder = tmp_path / "out" / "20250042_ana"
    report = load_report(folder / "report.json")
    assert report.cause.endswith("SyntaxError: expected ':', every experiment failed")
    results = json.loads((folder / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["output"].count("SyntaxError") == 1 and "Why points were lost: answer.py:" in results["output"]
    for test in results["tests"]:
        assert "SyntaxError" not in test["output"] and len(test["output"]) < 90, test
    assert any("the error stated above" in t["output"] for t in results["tests"])
    page = (folder / "student.html").read_text()
    assert page.count("SyntaxError") == 1 and 'id="cause"' in page and "the error stated above" in page


def test_short_message_keeps_other_failures_and_unrelated_messages():
    from grader.reports.visibility import short_message

    cause = "answer.py:22 SyntaxError: expected ':', every experiment failed"
    tests = ("1/3 tests passed; a: raised SyntaxError (answer.py:22): expected ':'; "
             "b: expected 0.5, got 0.25")
    assert short_message(tests, cause) == "1/3 tests passed; a: the error stated above; b: expected 0.5, got 0.25"
    assert short_message("accuracy = 0.5000 misses >= 0.8", cause) == "accuracy = 0.5000 misses >= 0.8"
    assert short_message("anything", "") == "anything"
