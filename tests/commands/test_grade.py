"""Grading a whole class: parallel jobs, resumable runs, latest-wins, Gradescope output."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader.commands.grade import grade_all
from grader.commands.gradescope import build_bundle
from grader.course import catalog
from grader.reports.report import load_report

from conftest import REPO, run_cli, student_files, write_zip

SCHEMA = json.loads((REPO / "grader" / "reports" / "schemas" / "gradescope_results.schema.json").read_text())


@pytest.fixture
def quiet_console():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=200)


def make_batch(folder: Path, tiny) -> Path:
    folder.mkdir()
    good = student_files(tiny)
    write_zip(folder / "20250001_good.zip", good, folder="20250001_good")
    wrong = dict(good, **{"answer.py": good["answer.py"].replace("return sum(values) / len(values)",
                                                                 "return values[0]")})
    write_zip(folder / "20250002_wrong.zip", wrong)
    (folder / "20250003_broken.zip").write_bytes(b"PK\x03\x04 truncated")
    write_zip(folder / "20250004_loop.zip", dict(good, **{"answer.py": "while True:\n    pass\n"}))
    write_zip(folder / "20250005_escape.zip", {"answer.py": "", "../../../tmp/owned.py": "x"})
    return folder


def short_timeout(tiny_root):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 3")
                    .replace("cpu_seconds: 20", "cpu_seconds: 2"))


def test_parallel_batch_gives_one_row_each_with_the_right_status(tmp_path, tiny_root, sandbox, quiet_console):
    short_timeout(tiny_root)
    from grader.course import catalog

    tiny = catalog.load("tiny", tiny_root)
    batch = make_batch(tmp_path / "batch", tiny)
    reports = grade_all(sorted(batch.iterdir()), tiny, sandbox, tmp_path / "out", dataset=None, student_id=None,
                        console=quiet_console, jobs=2)
    got = {r.student_id: (r.status, r.score) for r in reports}
    assert got == {"20250001": ("graded", 16), "20250002": ("graded", 9), "20250003": ("rejected", 0),
                   "20250004": ("timeout", 0), "20250005": ("rejected", 0)}
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert [r["student_id"] for r in rows] == ["20250001", "20250002", "20250003", "20250004", "20250005"]
    assert not Path("/tmp/owned.py").exists()
    for report in reports:
        results = json.loads((tmp_path / "out" / report.stem / "results.json").read_text())
        jsonschema.validate(results, SCHEMA)
        assert results["score"] == report.score


def test_finished_submissions_are_not_regraded(tmp_path, tiny, sandbox, quiet_console):
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_a.zip", student_files(tiny))
    write_zip(batch / "20250002_b.zip", student_files(tiny, "skeleton"))
    out = tmp_path / "out"
    first = grade_all(sorted(batch.iterdir()), tiny, sandbox, out, dataset=None, student_id=None, console=quiet_console)
    stamp = (out / "20250001_a" / "report.json").stat().st_mtime_ns
    again = grade_all(sorted(batch.iterdir()), tiny, sandbox, out, dataset=None, student_id=None, console=quiet_console)
    assert [r.scores_only() for r in again] == [r.scores_only() for r in first]
    assert (out / "20250001_a" / "report.json").stat().st_mtime_ns == stamp, "a cached report was graded again"
    # a changed submission is graded again; --force re-grades everything
    write_zip(batch / "20250002_b.zip", student_files(tiny))
    changed = grade_all(sorted(batch.iterdir()), tiny, sandbox, out, dataset=None, student_id=None,
                        console=quiet_console)
    assert [r.score for r in changed] == [16, 16]
    grade_all(sorted(batch.iterdir()), tiny, sandbox, out, dataset=None, student_id=None, console=quiet_console,
              force=True)
    assert (out / "20250001_a" / "report.json").stat().st_mtime_ns != stamp


def test_latest_submission_of_a_student_wins(tmp_path, tiny, sandbox, quiet_console):
    batch = tmp_path / "batch"
    batch.mkdir()
    old = write_zip(batch / "20250001_first.zip", student_files(tiny, "skeleton"))
    write_zip(batch / "20250001_second.zip", student_files(tiny))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    reports = grade_all(sorted(batch.iterdir()), tiny, sandbox, tmp_path / "out", dataset=None, student_id=None,
                        console=quiet_console)
    assert [(r.stem, r.score) for r in reports] == [("20250001_second", 16)]
    assert ("submitted 2 times; graded the latest (20250001_second.zip), ignored 20250001_first.zip"
            in reports[0].flags[0])
    row = next(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert "submitted 2 times" in row["flags"]
    saved = load_report(tmp_path / "out" / "20250001_second" / "report.json")  # no late policy: saved all the same
    assert tiny.rubric.late is None and any("submitted 2 times" in flag for flag in saved.flags)


def test_interrupted_batch_resumes(tmp_path, tiny_root, tiny):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_fast.zip", student_files(tiny))
    write_zip(batch / "20250002_slow.zip", dict(student_files(tiny), **{"SLEEP": "30"}))
    # the experiment sleeps when a SLEEP file exists; let it through as an editable file
    spec.write_text(spec.read_text().replace("editable: [answer.py]", "editable: [answer.py, SLEEP]"))
    write_zip(batch / "20250003_fast.zip", student_files(tiny))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(batch), "--out", str(out),
           "--backend", "local"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (out / "20250001_fast" / "report.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the slow one is now sleeping in its experiment
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in output and "Traceback" not in output
    assert not (out / "20250003_fast" / "report.json").exists()
    stamp = (out / "20250001_fast" / "report.json").stat().st_mtime_ns
    (batch / "20250002_slow.zip").unlink()
    write_zip(batch / "20250002_slow.zip", student_files(tiny))
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout
    assert (out / "20250001_fast" / "report.json").stat().st_mtime_ns == stamp
    assert load_report(out / "20250003_fast" / "report.json").score == 16


def test_gradescope_bundle_has_the_scripts_and_no_solutions(tmp_path, tiny):
    bundle = build_bundle(tiny, tmp_path / "autograder.zip")
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        text = b"".join(z.read(n) for n in names)
    assert "setup.sh" in names and "run_autograder" in names and modes["run_autograder"] & 0o111
    assert "course/rubrics/tiny.yaml" in names and "course/assignments/tiny/hidden_tests/answer.py" in names
    assert "course/assignments/tiny/expected_outputs.json" in names  # the reference's outputs, not its code
    assert "grader_src/grader/steps/pipeline.py" in names and "grader_src/pyproject.toml" in names
    assert not any(n.startswith("course/solutions") for n in names)
    assert b"return sum(values) / len(values)" not in text
    with zipfile.ZipFile(bundle) as z:
        z.extractall(tmp_path / "unpacked")
    from grader.course import catalog

    shipped = catalog.load("tiny", tmp_path / "unpacked" / "course")
    assert shipped.spec.baselines == [] and shipped.spec.editable == tiny.spec.editable


def test_gradescope_command_runs(tmp_path, tiny_root):
    from conftest import run_cli

    result = run_cli("--root", str(tiny_root), "gradescope", "tiny", "-o", str(tmp_path / "ag.zip"))
    assert result.returncode == 0 and (tmp_path / "ag.zip").is_file()


@pytest.fixture(scope="module")
def shipped_examples(tmp_path_factory):
    """Reference and skeleton zips of every shipped assignment (packaging only, no grading)."""
    from grader.commands.examples import make_examples

    out = tmp_path_factory.mktemp("shipped")
    assignments = [catalog.load(i) for i in catalog.list_ids(catalog.default_root())]
    return assignments, {a.id: make_examples(a, out / a.id, ["20261111"], baselines=False) for a in assignments}


def test_the_assignment_is_told_from_the_submitted_files(shipped_examples):
    from grader.batch.discovery import guess_assignment

    assignments, examples = shipped_examples
    for assignment_id, made in examples.items():  # a cnn_transfer zip holds a model.py, as colored_mnist's does
        for example in made:
            assert guess_assignment([example.zip_path], assignments).id == assignment_id, example.zip_path
        assert guess_assignment([made[0].zip_path.parent], assignments).id == assignment_id  # a batch folder


def test_mixed_or_unknown_submissions_need_assignment(shipped_examples, tmp_path):
    assignments, examples = shipped_examples
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for assignment_id in ("cnn_transfer", "cvae_ood"):
        shutil.copy(examples[assignment_id][0].zip_path,
                    mixed / f"2026000{len(list(mixed.iterdir()))}_{assignment_id}.zip")
    result = run_cli("grade", str(mixed))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot tell which assignment to grade (submissions fit: cnn_transfer (1), cvae_ood (1)" in result.stderr
    assert result.stderr.strip().endswith("pass --assignment")
    stray = write_zip(tmp_path / "20260009_x.zip", {"notes.txt": "hello"})
    result = run_cli("grade", str(stray))
    assert result.returncode == 2 and "none holds all the editable files of one" in result.stderr


def test_a_roster_of_another_lms_is_refused_before_grading(tmp_path, tiny_root, tiny):
    batch = tmp_path / "canvas"
    batch.mkdir()
    write_zip(batch / "doejane_111_222_homework.zip", student_files(tiny))
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text("Identifier,Full name,Email address,Status\nParticipant 5,Jane Doe,20250001@x.edu,Submitted\n")
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--lms", "canvas", "--roster", str(worksheet),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "roster is a moodle worksheet, not canvas's" in result.stderr
    assert not (tmp_path / "out").exists()
