"""Rosters: a Canvas gradebook export and a Moodle grading worksheet (or participants export) map
the LMS's own IDs to student IDs and names, and say when each student submitted where they know."""

import datetime as dt

import pytest

from grader.errors import GraderError
from grader.steps.lms import discover, download_times, identify
from grader.steps.roster import parse_lms_time, read_roster

from conftest import write_zip

CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (98765),Homework 2 (98766)
    Points Possible,,,,,15,20
"Doe, Jane",111,20250001,jdoe,Lab A,,
"Lee, Bob",34567,20250002,blee,Lab A,12,
"Kim, Sue",555,20250003,skim,Lab B,,
"Student, Test",999,,,Lab A,,
"""

MOODLE_WORKSHEET = """Identifier,Full name,Email address,Status,Grade,Maximum grade,Grade can be changed,\
Last modified (submission),Feedback comments
Participant 501,Ana Lima,20250011@student.example.edu,Submitted for grading,,15.00,Yes,"Wednesday, 31 December 2025, 11:00 PM",
Participant 502,Wei Li,20250012@student.example.edu,Submitted for grading,,15.00,Yes,"Friday, 2 January 2026, 9:30 AM",
Participant 503,Omar Haddad,omar@student.example.edu,No submission,,15.00,Yes,-,
"""  # noqa: E501 (Moodle's worksheet rows, kept as the LMS writes them)


def test_canvas_gradebook_export_maps_user_ids_to_sis_ids(tmp_path):
    path = tmp_path / "gradebook.csv"
    path.write_text(CANVAS_ROSTER)
    roster = read_roster(path)
    assert (roster.lms, roster.kind) == ("canvas", "canvas gradebook")
    assert [(s.lms_id, s.student_id, s.name) for s in roster.students] == [
        ("111", "20250001", "Doe, Jane"), ("34567", "20250002", "Lee, Bob"), ("555", "20250003", "Kim, Sue")]
    assert roster.by_lms_id("34567").login == "blee" and roster.by_student_id("20250003").section == "Lab B"


def test_moodle_worksheet_ids_from_email_digits_and_times_in_the_given_zone(tmp_path):
    path = tmp_path / "worksheet.csv"
    path.write_text(MOODLE_WORKSHEET)
    roster = read_roster(path, tz=dt.timezone(dt.timedelta(hours=1)))
    assert (roster.lms, roster.kind) == ("moodle", "moodle worksheet")
    ana, wei, omar = roster.students
    assert (ana.lms_id, ana.student_id, ana.submitted_at) == ("501", "20250011", "2025-12-31T22:00:00+00:00")
    assert wei.submitted_at == "2026-01-02T08:30:00+00:00"
    assert omar.student_id is None and omar.submitted_at is None
    assert any("Omar Haddad has no ID number" in p for p in roster.problems)


def test_moodle_worksheet_id_number_column_wins_over_the_email(tmp_path):
    path = tmp_path / "worksheet.csv"
    path.write_text("Identifier,Full name,ID number,Email address,Status\n"
                    "Participant 7,Ana Lima,s1234567,ana@example.edu,Submitted for grading\n")
    assert read_roster(path).students[0].student_id == "s1234567"


def test_moodle_participants_export_is_matched_by_full_name(tmp_path):
    path = tmp_path / "participants.csv"
    path.write_text("First name,Last name,ID number,Email address\nAna,Lima,20250011,ana@example.edu\n")
    roster = read_roster(path)
    folder = tmp_path / "Ana Lima_501_assignsubmission_file_"
    folder.mkdir()
    (folder / "answer.py").write_text("")
    who = identify(folder, "moodle", roster=roster)
    assert (who.source, who.student_id, who.name, who.stem) == (folder, "20250011", "Ana Lima", folder.name)


def test_an_unknown_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(GraderError, match="neither a Canvas gradebook export"):
        read_roster(path)


def test_lms_times():
    assert parse_lms_time("Friday, 20 November 2026, 11:58 PM", dt.UTC) == "2026-11-20T23:58:00+00:00"
    assert parse_lms_time("2026-11-20T23:58:00+01:00", None) == "2026-11-20T22:58:00+00:00"
    assert parse_lms_time("-", dt.UTC) is None and parse_lms_time("gestern", dt.UTC) is None


def test_canvas_single_file_and_odd_zip_names_with_a_roster(tmp_path):
    path = tmp_path / "gradebook.csv"
    path.write_text(CANVAS_ROSTER)
    roster = read_roster(path)
    single = tmp_path / "leebob_LATE_34567_89012_answer-1.py"
    single.write_text("")
    odd = write_zip(tmp_path / "doejane_111_222_homework final (2).zip", {"answer.py": ""})
    bob, jane = identify(single, "canvas", roster=roster), identify(odd, "canvas", roster=roster)
    assert (bob.student_id, bob.name, bob.upload_name, bob.origin.attempt, bob.origin.late_marker) == (
        "20250002", "Lee, Bob", "answer.py", 1, True)
    assert (jane.student_id, jane.upload_name, jane.error) == ("20250001", None, None)
    stranger = write_zip(tmp_path / "nobody_4242_1_homework.zip", {"answer.py": ""})
    assert "Canvas user 4242 is not in the roster gradebook.csv" in identify(stranger, "canvas", roster=roster).error


def test_moodle_roster_gives_times_and_names_folders_of_loose_files(tmp_path):
    path = tmp_path / "worksheet.csv"
    path.write_text(MOODLE_WORKSHEET)
    roster = read_roster(path, tz=dt.UTC)
    loose = tmp_path / "Ana Lima_501_assignsubmission_file_"
    loose.mkdir()
    (loose / "answer.py").write_text("")
    (loose / "notes.txt").write_text("")
    zipped = tmp_path / "Wei Li_502_assignsubmission_file_"
    zipped.mkdir()
    inner = write_zip(zipped / "homework.zip", {"answer.py": ""})
    ana, wei = discover([tmp_path], "moodle", None, roster)
    assert (ana.source, ana.student_id, ana.stem, ana.origin.time_from) == (loose, "20250011", loose.name, "lms")
    assert (wei.source, wei.student_id, wei.stem, wei.origin.submitted_at) == (
        inner, "20250012", zipped.name, "2026-01-02T09:30:00+00:00")


def test_download_times_are_a_batch_whose_file_times_all_fall_within_minutes():
    base = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    close = [(base + dt.timedelta(seconds=40 * n)).isoformat() for n in range(5)]
    assert download_times(close) == (base, base + dt.timedelta(seconds=160))
    assert download_times(close[:2]) is None  # too few to tell
    assert download_times(close + [(base - dt.timedelta(days=3)).isoformat()]) is None
    assert download_times(close + [None]) is None
