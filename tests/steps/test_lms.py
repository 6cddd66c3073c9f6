"""LMS intake: Canvas bulk downloads, Moodle per-student folders and --id-pattern name their
submissions; the grader reads the student ID the seed comes from, the LATE marker and file times."""

import csv
import json
import os

import pytest

from grader.errors import GraderError
from grader.steps.lms import compile_pattern, discover, identify, latest_per_student

from conftest import run_cli, student_files, write_zip


def test_canvas_takes_the_student_id_from_the_uploaded_files_own_name(tmp_path):
    path = write_zip(tmp_path / "doejane_12345_67890_10014242_doejane.zip", {"answer.py": ""})
    who = identify(path, "canvas")
    assert (who.student_id, who.name, who.error) == ("10014242", "doejane", None)
    assert (who.origin.lms_user_id, who.origin.lms_submission_id, who.origin.late_marker) == ("12345", "67890", False)
    assert who.origin.submitted_at and who.origin.submitted_at.endswith("+00:00")


def test_canvas_late_marker_and_resubmission_suffix(tmp_path):
    path = write_zip(tmp_path / "smithjohn_LATE_222_333_20250002_john_smith-2.zip", {"answer.py": ""})
    who = identify(path, "canvas")
    assert (who.student_id, who.name, who.origin.late_marker, who.origin.attempt) == ("20250002", "john_smith", True, 2)


def test_canvas_upload_without_an_id_is_an_error_naming_the_upload(tmp_path):
    path = write_zip(tmp_path / "doejane_12345_67890_homework.zip", {"answer.py": ""})
    who = identify(path, "canvas")
    assert who.student_id is None and "'homework.zip'" in who.error and "--id-pattern" in who.error


def test_moodle_folder_grades_the_zip_inside_with_the_folder_name(tmp_path):
    folder = tmp_path / "Jane Doe_123456_assignsubmission_file_"
    folder.mkdir()
    inner = write_zip(folder / "10014242_jane.zip", {"answer.py": ""})
    who = identify(folder, "moodle")
    assert (who.source, who.student_id, who.name, who.origin.lms_user_id) == (inner, "10014242", "Jane Doe", "123456")


def test_moodle_discovery_skips_online_text_folders(tmp_path):
    for name in ("A B_1_assignsubmission_file_", "A B_1_assignsubmission_onlinetext_"):
        (tmp_path / name).mkdir()
    write_zip(tmp_path / "A B_1_assignsubmission_file_" / "20250001_ab.zip", {"answer.py": ""})
    found = discover([tmp_path], "moodle", None)
    assert [i.student_id for i in found] == ["20250001"]


def test_id_pattern_with_named_groups(tmp_path):
    path = write_zip(tmp_path / "hw1-20250009-ana.zip", {"answer.py": ""})
    who = identify(path, pattern=r"hw1-(?P<student_id>\d+)-(?P<name>\w+)\.zip")
    assert (who.student_id, who.name, who.error) == ("20250009", "ana", None)
    miss = identify(tmp_path / "other.zip", pattern=r"hw1-(?P<student_id>\d+)")
    assert miss.student_id is None and "does not match --id-pattern" in miss.error


@pytest.mark.parametrize("bad", [r"(\d+", r"(?P<id>\d+)"])
def test_bad_id_pattern_is_a_one_line_error(bad):
    with pytest.raises(GraderError, match="--id-pattern"):
        compile_pattern(bad)


def test_latest_resubmission_wins(tmp_path):
    first = write_zip(tmp_path / "doejane_1_2_20250001_jane.zip", {"a": ""})
    second = write_zip(tmp_path / "doejane_1_3_20250001_jane-1.zip", {"a": ""})
    os.utime(first, (2_000_000_000, 2_000_000_000))  # the older attempt has the newer file time: attempt decides
    kept, notes = latest_per_student([identify(first, "canvas"), identify(second, "canvas")])
    assert [i.source for i in kept] == [second] and "submitted 2 times" in notes[second]


def test_canvas_batch_grades_with_no_rejections(tmp_path, tiny_root, tiny):
    batch = tmp_path / "canvas"
    batch.mkdir()
    good = student_files(tiny)
    write_zip(batch / "doejane_12345_67890_20250001_doejane.zip", good, folder="20250001_doejane")
    write_zip(batch / "smithjohn_LATE_222_333_20250002_smith.zip", good)
    write_zip(batch / "smithjohn_LATE_222_334_20250002_smith-1.zip", good)
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert sorted((r["student_id"], r["status"]) for r in rows) == [("20250001", "graded"), ("20250002", "graded")]
    late = json.loads((tmp_path / "out" / "smithjohn_LATE_222_334_20250002_smith-1" / "report.json").read_text())
    assert late["origin"]["late_marker"] is True and late["origin"]["attempt"] == 1 and late["seed"] == 2
    assert all(r["submitted_at"] for r in rows)


def test_moodle_batch_grades_with_no_rejections(tmp_path, tiny_root, tiny):
    batch = tmp_path / "moodle"
    batch.mkdir()
    for n, person in enumerate(["Jane Doe", "Li Wei"], start=1):
        folder = batch / f"{person}_{900 + n}_assignsubmission_file_"
        folder.mkdir()
        write_zip(folder / f"2025000{n}_{person.split()[0].lower()}.zip", student_files(tiny))
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "moodle", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert {k: (r["name"], r["status"]) for k, r in rows.items()} == {
        "20250001": ("Jane Doe", "graded"), "20250002": ("Li Wei", "graded")}


def test_unreadable_name_in_an_lms_batch_is_a_rejected_row_not_a_stop(tmp_path, tiny_root, tiny):
    batch = tmp_path / "canvas"
    batch.mkdir()
    write_zip(batch / "doejane_12345_67890_20250001_doejane.zip", student_files(tiny))
    write_zip(batch / "ghost_1_2_homework.zip", student_files(tiny))
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    statuses = sorted((r["status"], r["submission"]) for r in rows)
    assert statuses == [("graded", "doejane_12345_67890_20250001_doejane"), ("rejected", "ghost_1_2_homework")]
    assert "Traceback" not in result.stderr
