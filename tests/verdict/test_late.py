"""Late policy: due date, grace, penalty per day with a cap, per-student extensions; applied
visibly in the report and the gradebook."""

import csv
import datetime as dt
import json
import os

import pytest

from grader.course.spec import LatePolicy
from grader.errors import GraderError, SpecError
from grader.verdict.late import Extension, assess, load_extensions

from conftest import run_cli, student_files, write_zip

UTC = dt.UTC
DUE = dt.datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
POLICY = LatePolicy(due=DUE, grace_minutes=15, penalty_per_unit=10, max_penalty_percent=30)


def at(**delta) -> dt.datetime:
    return DUE + dt.timedelta(**delta)


@pytest.mark.parametrize("submitted, units, penalty", [
    (at(minutes=-5), 0, 0),          # on time
    (at(minutes=14), 0, 0),          # inside the grace period
    (at(minutes=16), 1, 2),          # a day started counts whole: 10% of 20
    (at(days=1, minutes=16), 2, 4),
    (at(days=9), 9, 6),              # capped at 30%
])
def test_penalty_per_day_started_after_grace_with_a_cap(submitted, units, penalty):
    outcome = assess(16, 20, POLICY, submitted)
    assert (outcome.units_late, outcome.penalty, outcome.score_before) == (units, penalty, 16)
    assert ("late: " in outcome.note) == bool(units)


def test_penalty_never_takes_the_score_below_zero():
    assert assess(1, 20, POLICY, at(days=5)).penalty == 1


def test_extension_moves_the_due_date():
    assert assess(16, 20, POLICY, at(days=1), extension=Extension(days=2)).units_late == 0
    new_due = DUE + dt.timedelta(days=3)
    assert assess(16, 20, POLICY, at(days=4), extension=Extension(due=new_due)).units_late == 1


def test_lms_marker_decides_whether_late_and_the_file_time_how_late():
    # A download's file time may be the download's: Canvas's verdict wins either way.
    assert assess(16, 20, POLICY, at(days=3), marked_late=False).penalty == 0
    assert assess(16, 20, POLICY, at(minutes=-60), marked_late=True).units_late == 1


def test_due_date_without_time_zone_is_refused(tiny_root):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace("cap: 20", "cap: 20\nlate: {due: '2026-11-20T23:59:00'}"))
    from grader.course import catalog

    with pytest.raises(SpecError, match="late.due.*time zone"):
        catalog.load("tiny", tiny_root)


def test_extensions_csv(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("student_id,days,due\n20250001,2,\n20250002,,2026-12-01T12:00Z\n")
    got = load_extensions(path)
    assert got["20250001"].days == 2 and got["20250002"].due == dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    path.write_text("student_id,days\n20250001,two\n")
    with pytest.raises(GraderError, match=r"ext.csv:2: days 'two' is not a number"):
        load_extensions(path)
    path.write_text("who,when\n1,2\n")
    with pytest.raises(GraderError, match="needs a student_id column"):
        load_extensions(path)


def test_late_canvas_submission_is_charged_in_report_and_gradebook(tmp_path, tiny_root, tiny):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace(
        "cap: 20", "cap: 20\nlate: {due: '2026-01-01T00:00:00Z', penalty_per_unit: 25}"))
    batch = tmp_path / "canvas"
    batch.mkdir()
    good = student_files(tiny)
    on_time = write_zip(batch / "doejane_1_2_20250001_jane.zip", good)
    os.utime(on_time, (1767182400, 1767182400))  # 2025-12-31T12:00Z: file times spread out, so they are the students'
    write_zip(batch / "smithjohn_LATE_3_4_20250002_john.zip", good)
    write_zip(batch / "leeann_LATE_5_6_20250003_ann.zip", good)
    (tmp_path / "ext.csv").write_text("student_id,days\n20250003,100000\n")
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--out", str(tmp_path / "out"),
                     "--extensions", str(tmp_path / "ext.csv"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "file times of all" not in result.stdout
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    # Full marks 15 (16 with the bonus): the on-time one keeps 16; the late one, its file written today (long
    # after the due date), loses the whole 16; the extended one is still marked late by Canvas: one day, 25% of 16.
    assert rows["20250001"]["score"] == "16" and rows["20250001"]["late_penalty"] == "0"
    assert rows["20250002"]["score"] == "0" and rows["20250002"]["late_penalty"] == "16"
    assert rows["20250003"]["score"] == "12" and "late: 1 day" in rows["20250003"]["flags"]
    report = json.loads((tmp_path / "out" / "smithjohn_LATE_3_4_20250002_john" / "report.json").read_text())
    assert report["late"]["score_before"] == 16 and report["score"] == 0
    html = (tmp_path / "out" / "smithjohn_LATE_3_4_20250002_john" / "report.html").read_text()
    assert 'id="late"' in html and "score before the penalty 16" in html
    # Re-running (cached) does not charge twice.
    again = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--out", str(tmp_path / "out"),
                    "--extensions", str(tmp_path / "ext.csv"))
    assert again.returncode == 0
    assert {r["student_id"]: r["score"]
            for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}["20250003"] == "12"


def _late_rubric(tiny_root):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace(
        "cap: 20", "cap: 20\nlate: {due: '2026-01-01T00:00:00Z', penalty_per_unit: 25}"))


def test_file_times_of_a_download_are_warned_about_not_charged(tmp_path, tiny_root, tiny):
    """Every file written within seconds, long after the due date: the download's times. Only
    Canvas's own LATE marker charges (one day)."""
    _late_rubric(tiny_root)
    batch = tmp_path / "canvas"
    batch.mkdir()
    for name in ("doejane_1_2_20250001_jane.zip", "smithjohn_LATE_3_4_20250002_john.zip",
                 "leeann_5_6_20250003_ann.zip"):
        write_zip(batch / name, student_files(tiny))
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the file times of all 3 submissions fall between" in result.stdout
    assert "does not charge by them" in result.stdout
    rows = {r["student_id"]: r["score"] for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert rows == {"20250001": "16", "20250002": "12", "20250003": "16"}


def test_due_on_the_command_line_replaces_the_rubrics(tmp_path, tiny_root, tiny):
    _late_rubric(tiny_root)
    sub = write_zip(tmp_path / "20250001_jane.zip", student_files(tiny))
    os.utime(sub, (1767312000, 1767312000))  # 2026-01-02T00:00Z: one day after the rubric's due date
    out = tmp_path / "out"
    assert run_cli("--root", str(tiny_root), "grade", str(sub), "--out", str(out)).returncode == 0
    assert next(csv.DictReader(open(out / "grades.csv")))["score"] == "12"
    result = run_cli("--root", str(tiny_root), "grade", str(sub), "--out", str(out), "--due", "2026-01-05T00:00+01:00")
    assert result.returncode == 0, result.stdout + result.stderr
    assert next(csv.DictReader(open(out / "grades.csv")))["score"] == "16"
    report = json.loads((out / "20250001_jane" / "report.json").read_text())
    assert report["late"]["due"] == "2026-01-05T00:00:00+01:00"
    bad = run_cli("--root", str(tiny_root), "grade", str(sub), "--out", str(out), "--due", "2026-01-05")
    assert bad.returncode == 2 and "no time zone" in bad.stderr


def test_due_without_a_late_policy_is_refused(tmp_path, tiny_root, tiny):
    sub = write_zip(tmp_path / "20250001_jane.zip", student_files(tiny))
    result = run_cli("--root", str(tiny_root), "grade", str(sub), "--due", "2026-01-05T00:00Z")
    assert result.returncode == 2 and "--due needs a late policy" in result.stderr
