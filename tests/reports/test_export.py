"""Grades back: `grader export` writes a gradebook CSV Canvas's import accepts (and a generic
one) with the late penalty applied, and one feedback file per student named for bulk upload."""

import csv
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
    assert run_cli("--root", str(tiny_root), "export", str(graded_canvas), "--lms", "canvas", "-o", str(target)).returncode == 0
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
    assert (rows["20250001"]["Student"], rows["20250001"]["SIS Login ID"], rows["20250001"]["Section"]) == ("Doe, Jane", "jdoe", "Lab A")


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
