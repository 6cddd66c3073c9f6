"""Grades back: `grader export` writes a gradebook CSV Canvas's import accepts (and a generic
one) with the late penalty applied, and one feedback file per student named for bulk upload."""

import csv
import json
import os
import zipfile

import pytest

from conftest import run_cli, student_files, write_zip


@pytest.fixture
def graded_canvas(tmp_path, tiny_root, tiny):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    text = rubric.read_text().replace("cap: 20", "cap: 20\nlate: {due: '2026-01-01T00:00:00Z', penalty_per_unit: 25}")
    rubric.write_text(text.replace("    title: Hidden tests\n", "    title: Hidden tests\n    visibility: hidden\n"))
    batch = tmp_path / "canvas"
    batch.mkdir()
    good = student_files(tiny)
    write_zip(batch / "doejane_111_222_20250001_jane.zip", good)
    write_zip(batch / "smithjohn_LATE_333_444_20250002_john.zip", good)
    write_zip(batch / "smithjohn_LATE_333_445_20250002_john-1.zip", good)
    (tmp_path / "ext.csv").write_text("student_id,days\n20250002,100000\n")
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--out", str(tmp_path / "out"),
                     "--extensions", str(tmp_path / "ext.csv"))
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / "out"


def test_canvas_gradebook_csv_one_row_per_student_with_late_penalty(tmp_path, tiny_root, graded_canvas):
    target = tmp_path / "canvas.csv"
    result = run_cli("--root", str(tiny_root), "export", str(graded_canvas), "--lms", "canvas", "-o", str(target),
                     "--assignment-name", "Homework 1", "--canvas-assignment-id", "98765")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(target, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (98765)"]
    body = {r[2]: r for r in rows[1:]}
    assert sorted(body) == ["20250001", "20250002"]  # the resubmission is one row, not two
    assert body["20250001"][1] == "111" and body["20250001"][5] == "16"
    assert body["20250002"][1] == "333" and body["20250002"][5] == "12"  # Canvas marked it late: 1 day, 25%


def test_feedback_files_named_for_canvas_bulk_upload_without_hidden_items(tmp_path, tiny_root, graded_canvas):
    target = tmp_path / "canvas.csv"
    assert run_cli("--root", str(tiny_root), "export", str(graded_canvas), "--lms", "canvas", "-o",
                   str(target)).returncode == 0
    folder = tmp_path / "canvas_feedback"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["doejane_111_222_feedback.html", "smithjohn_333_445_feedback.html"]
    page = (folder / "smithjohn_333_445_feedback.html").read_text()
    assert "Hidden tests" not in page and "late: 1 day" in page and '<span id="score">12 / 15</span>' in page
    with zipfile.ZipFile(tmp_path / "canvas_feedback.zip") as archive:
        assert sorted(archive.namelist()) == names


def test_canvas_roster_supplies_login_and_section(tmp_path, tiny_root, graded_canvas):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (98765)\n"
                      '"Doe, Jane",111,20250001,jdoe,Lab A,\n')
    target = tmp_path / "canvas.csv"
    assert run_cli("--root", str(tiny_root), "export", str(graded_canvas), "--lms", "canvas", "-o", str(target),
                   "--roster", str(roster)).returncode == 0
    rows = {r["SIS User ID"]: r for r in csv.DictReader(open(target))}
    assert ((rows["20250001"]["Student"], rows["20250001"]["SIS Login ID"], rows["20250001"]["Section"])
            == ("Doe, Jane", "jdoe", "Lab A"))


def test_generic_csv_and_feedback_names(tmp_path, tiny_root, graded_canvas):
    target = tmp_path / "grades.csv"
    assert run_cli("--root", str(tiny_root), "export", str(graded_canvas), "-o", str(target)).returncode == 0
    rows = {r["student_id"]: r for r in csv.DictReader(open(target))}
    assert (rows["20250002"]["score"], rows["20250002"]["late_penalty"]) == ("12", "4")
    assert "late: 1 day" in rows["20250002"]["note"]
    assert sorted(p.name for p in (tmp_path / "grades_feedback").iterdir()) == [
        "20250001_jane_feedback.html", "20250002_john_feedback.html"]


def test_export_of_an_empty_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("export", str(tmp_path / "empty"), "-o", str(tmp_path / "x.csv"))
    assert result.returncode == 2 and "holds no graded reports" in result.stderr and "Traceback" not in result.stderr


CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (98765)
    Points Possible,,,,,15
"Doe, Jane",111,20250001,jdoe,Lab A,
"Lee, Bob",34567,20250002,blee,Lab A,
"Kim, Sue",555,20250003,skim,Lab B,
"Student, Test",999,,,Lab A,
"""

MOODLE_WORKSHEET = """Identifier,Full name,Email address,Status,Grade,Maximum grade,Grade can be changed,\
Last modified (submission),Feedback comments
Participant 501,Ana Lima,20250011@student.example.edu,Submitted for grading,,15.00,Yes,"Wednesday, 31 December 2025, 11:00 PM",
Participant 502,Wei Li,20250012@student.example.edu,Submitted for grading,,15.00,Yes,"Friday, 2 January 2026, 9:30 AM",
Participant 503,Omar Haddad,20250013@student.example.edu,No submission,,15.00,Yes,-,
Participant 504,Zoe Park,20250014@student.example.edu,Submitted for grading,,15.00,Yes,"Wednesday, 31 December 2025, 10:00 PM",
"""  # noqa: E501 (Moodle's worksheet rows, kept as the LMS writes them)


def test_a_term_of_lms_downloads_graded_and_exported_with_rosters(tmp_path, tiny_root, tiny):
    """Canvas: a single-file upload, an oddly named zip, a student who submitted nothing; Moodle: a
    folder of loose files, a zip called anything, a rejected upload, a student with no submission.
    Nothing renamed; every roster student is a row of the LMS's own import file."""
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace(
        "cap: 20", "cap: 20\nlate: {due: '2026-01-01T00:00:00Z', penalty_per_unit: 25}"))
    answer = student_files(tiny)["answer.py"]

    canvas = tmp_path / "canvas"
    canvas.mkdir()
    (tmp_path / "gradebook.csv").write_text(CANVAS_ROSTER)
    jane = write_zip(canvas / "doejane_111_222_homework final (2).zip", {"answer.py": answer}, folder="hw")
    bob = canvas / "leebob_LATE_34567_89012_answer.py"
    bob.write_text(answer)
    os.utime(jane, (1767182400, 1767182400))  # 2025-12-31T12:00Z: on time
    os.utime(bob, (1767348000, 1767348000))  # 2026-01-02T10:00Z: two days started late, 50%
    result = run_cli("--root", str(tiny_root), "grade", str(canvas), "--roster", str(tmp_path / "gradebook.csv"),
                     "--out", str(tmp_path / "canvas_out"))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "canvas_out" / "grades.csv"))}
    assert {k: (r["name"], r["status"], r["score"]) for k, r in rows.items()} == {
        "20250001": ("Doe, Jane", "graded", "16"), "20250002": ("Lee, Bob", "graded", "8"),
        "20250003": ("Kim, Sue", "missing", "0")}
    assert "no submission" in rows["20250003"]["flags"] and rows["20250002"]["late_penalty"] == "8"
    seed = json.loads((tmp_path / "canvas_out" / "leebob_LATE_34567_89012_answer" / "report.json").read_text())["seed"]
    assert seed == 2  # the last four digits of the SIS User ID 20250002, not of Canvas's user ID

    target = tmp_path / "canvas.csv"
    result = run_cli("--root", str(tiny_root), "export", str(tmp_path / "canvas_out"), "--lms", "canvas",
                     "-o", str(target), "--roster", str(tmp_path / "gradebook.csv"), "--assignment-name", "Homework 1",
                     "--canvas-assignment-id", "98765")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(target, newline="") as f:
        exported = list(csv.reader(f))
    assert exported == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (98765)"],
                        ["Doe, Jane", "111", "20250001", "jdoe", "Lab A", "16"],
                        ["Lee, Bob", "34567", "20250002", "blee", "Lab A", "8"],
                        ["Kim, Sue", "555", "20250003", "skim", "Lab B", "0"]]

    moodle = tmp_path / "moodle"
    for person, files in (("Ana Lima_501", {"answer.py": answer, "notes.txt": "my notes"}),
                          ("Wei Li_502", None), ("Zoe Park_504", None)):
        folder = moodle / f"{person}_assignsubmission_file_"
        folder.mkdir(parents=True)
        for name, text in (files or {}).items():
            (folder / name).write_text(text)
    write_zip(moodle / "Wei Li_502_assignsubmission_file_" / "Homework.zip", {"answer.py": answer})
    write_zip(moodle / "Zoe Park_504_assignsubmission_file_" / "Homework.zip", {"../answer.py": answer})
    (tmp_path / "worksheet.csv").write_text(MOODLE_WORKSHEET)
    result = run_cli("--root", str(tiny_root), "grade", str(moodle), "--lms", "moodle",
                     "--roster", str(tmp_path / "worksheet.csv"), "--out", str(tmp_path / "moodle_out"))
    assert result.returncode == 2, result.stdout + result.stderr  # a rejected upload
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "moodle_out" / "grades.csv"))}
    assert {k: (r["name"], r["status"], r["score"]) for k, r in rows.items()} == {
        "20250011": ("Ana Lima", "graded", "16"), "20250012": ("Wei Li", "graded", "8"),
        "20250013": ("Omar Haddad", "missing", "0"), "20250014": ("Zoe Park", "rejected", "0")}
    assert rows["20250012"]["submitted_at"] == "2026-01-02T09:30:00+00:00"  # the worksheet's time, not the file's

    target = tmp_path / "worksheet_out.csv"
    result = run_cli("--root", str(tiny_root), "export", str(tmp_path / "moodle_out"), "--lms", "moodle",
                     "-o", str(target), "--roster", str(tmp_path / "worksheet.csv"))
    assert result.returncode == 0, result.stdout + result.stderr
    with open(target, newline="") as f:
        sheet = list(csv.DictReader(f))
    assert list(sheet[0])[:3] == ["Identifier", "Full name", "Email address"]
    by_id = {r["Identifier"]: r for r in sheet}
    assert sorted(by_id) == ["Participant 501", "Participant 502", "Participant 503", "Participant 504"]
    assert ((by_id["Participant 501"]["Grade"], by_id["Participant 501"]["Feedback comments"])
            == ("16.00", "score 16 / 15"))
    assert (by_id["Participant 502"]["Grade"] == "8.00"
            and "late: 2 days" in by_id["Participant 502"]["Feedback comments"])
    assert ((by_id["Participant 503"]["Grade"], by_id["Participant 503"]["Feedback comments"])
            == ("0.00", "no submission"))
    assert by_id["Participant 504"]["Grade"] == "0.00" and "'..'" in by_id["Participant 504"]["Feedback comments"]
    assert by_id["Participant 503"]["Status"] == "No submission"  # the worksheet's own cells are kept
    feedback = sorted(p.relative_to(tmp_path / "worksheet_out_feedback").as_posix()
                      for p in (tmp_path / "worksheet_out_feedback").rglob("*.html"))
    assert feedback == [f"{p}_assignsubmission_file_/feedback.html"
                        for p in ("Ana Lima_501", "Wei Li_502", "Zoe Park_504")]


def test_export_finds_reports_by_their_folders_whatever_the_names(tmp_path, tiny_root, tiny):
    """A zip name over 200 bytes gets a shortened, hashed report folder and `...zip` none at all;
    a name starting with '=' is written to grades.csv made inert: export still finds every report
    (it once built paths from grades.csv's names and stopped with "cannot read report")."""
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / ("20250001_" + "a" * 200 + ".zip"), student_files(tiny))
    write_zip(batch / "20250002_bo.zip", student_files(tiny))
    write_zip(batch / "...zip", student_files(tiny))
    write_zip(batch / "=20250003.zip", student_files(tiny))
    run_cli("--root", str(tiny_root), "grade", str(batch), "--out", str(tmp_path / "out"))
    done = run_cli("--root", str(tiny_root), "export", str(tmp_path / "out"), "-o", str(tmp_path / "grades_export.csv"))
    assert done.returncode == 0, done.stderr
    rows = {r["student_id"] for r in csv.DictReader(open(tmp_path / "grades_export.csv"))}
    assert {"20250001", "20250002"} <= rows
