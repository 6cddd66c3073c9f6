"""End-to-end: the real `grader` command on the tiny assignment, as a TA and a student use it."""

import csv
import json
import math
import subprocess

import pytest

from conftest import run_cli, student_files, write_zip

COMMANDS = ["list", "grade", "check", "package", "build", "validate", "handout", "calibrate", "demo", "new"]


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(*([command] if command else []), "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_grade_a_batch_with_a_broken_submission(tmp_path, tiny_root, tiny):
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_good.zip", student_files(tiny), folder="20250001_good")
    write_zip(batch / "20250002_skeleton.zip", student_files(tiny, "skeleton"))
    (batch / "20250003_broken.zip").write_bytes(b"not a zip at all")
    write_zip(batch / "20250004_evil.zip", {"answer.py": "", "../../etc/cron.d/x": "boom"})
    result = run_cli("--root", str(tiny_root), "grade", str(batch), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr  # a rejected submission is bad input
    assert "Traceback" not in result.stdout + result.stderr
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert {k: (r["status"], r["score"]) for k, r in rows.items()} == {
        "20250001": ("graded", "16"), "20250002": ("graded", "0"),
        "20250003": ("rejected", "0"), "20250004": ("rejected", "0")}
    assert "not a readable zip archive" in rows["20250003"]["flags"]
    assert rows["20250001"]["accuracy"] == "10" and rows["20250001"]["answer_tests"] == "3"
    html = (tmp_path / "out" / "20250001_good" / "report.html").read_text()
    assert "16 / 15" in html and "<svg" in html
    assert "20250001_good/report.html" in (tmp_path / "out" / "index.html").read_text()


def test_grade_one_zip_exit_code_zero(tmp_path, tiny_root, tiny):
    z = write_zip(tmp_path / "20250001_good.zip", student_files(tiny))
    result = run_cli("--root", str(tiny_root), "grade", str(z), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "graded 16/15" in result.stdout and "passed  accuracy: 0.9000 (>= 0.85) 10/10" in result.stdout


def test_timeout_exit_code_one(tmp_path, tiny_root, tiny):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("cpu_seconds: 20", "cpu_seconds: 1"))
    files = student_files(tiny)
    files["answer.py"] = "while True:\n    pass\n"
    z = write_zip(tmp_path / "20250001_loop.zip", files)
    result = run_cli("--root", str(tiny_root), "grade", str(z), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "timeout" in result.stdout


def test_student_journey_check_package_grade_agree(tmp_path, tiny_root, tiny):
    handout = tmp_path / "handout"
    assert run_cli("--root", str(tiny_root), "handout", "tiny", "-o", str(handout)).returncode == 0
    assert not (handout / "tests").exists() and (handout / "rubric.yaml").is_file()
    (handout / "answer.py").write_text(student_files(tiny)["answer.py"])
    # run the experiment as the student would
    import subprocess
    import sys
    log = subprocess.run([sys.executable, "experiment.py", "--seed", "42"], cwd=handout, capture_output=True,
                         text=True).stdout
    (handout / "result_log.txt").write_text(log)
    check = run_cli("--root", str(tiny_root), "check", "tiny", "--dir", str(handout))
    assert check.returncode == 0 and "accuracy: 0.9000 (>= 0.85) 10/10" in check.stdout
    assert "skipped answer_tests" in check.stdout
    pkg = run_cli("--root", str(tiny_root), "package", "tiny", "--student-id", "20250042", "--name", "ana",
                  "--dir", str(handout), "-o", str(tmp_path))
    assert pkg.returncode == 0, pkg.stderr
    graded = run_cli("--root", str(tiny_root), "grade", str(tmp_path / "20250042_ana.zip"),
                     "--out", str(tmp_path / "out"))
    assert graded.returncode == 0 and "accuracy: 0.9000 (>= 0.85) 10/10" in graded.stdout
    report = json.loads((tmp_path / "out" / "20250042_ana" / "report.json").read_text())
    assert report["flags"] == [] and report["seed"] == 42


def test_validate_and_build_check(tiny_root):
    result = run_cli("--root", str(tiny_root), "validate", "tiny")
    assert result.returncode == 0, result.stdout
    assert "ok   reference" in result.stdout and "ok   baseline first_only" in result.stdout
    parallel = run_cli("--root", str(tiny_root), "validate", "tiny", "--jobs", "2")
    assert parallel.returncode == 0 and "(2 at a time)" in parallel.stdout, parallel.stdout
    assert parallel.stdout.count("as expected") == 3  # reference, skeleton, baseline
    assert "missing required files" not in parallel.stdout  # examples carry no logs: no warning that they lack them
    answer = tiny_root / "skeleton" / "tiny" / "answer.py"
    answer.write_text(answer.read_text() + "\n# edited by hand\n")
    stale = run_cli("--root", str(tiny_root), "build", "--check")
    assert stale.returncode == 2 and "out of sync" in stale.stdout and "differs answer.py" in stale.stdout
    assert run_cli("--root", str(tiny_root), "build").returncode == 0
    assert run_cli("--root", str(tiny_root), "build", "--check").returncode == 0


def test_validate_catches_a_skeleton_that_scores(tiny_root):
    solution = tiny_root / "solutions" / "tiny" / "answer.py"
    solution.write_text(solution.read_text().replace("    # BEGIN SOLUTION: the arithmetic mean\n", "")
                        .replace("    return sum(values) / len(values)\n    # END SOLUTION\n",
                                 "    return sum(values) / len(values)\n"))
    assert run_cli("--root", str(tiny_root), "build").returncode == 0
    result = run_cli("--root", str(tiny_root), "validate", "tiny", "--skip-baselines")
    assert result.returncode == 1 and "FAIL skeleton: score" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["grade", "missing.zip", "--assignment", "tiny"], "missing.zip: no such file or folder"),
    (["grade", "x.zip", "--assignment", "nope"], "unknown assignment 'nope'"),
    (["check", "tiny", "--dataset", "mnist"], "declares no datasets"),
    (["package", "tiny", "--student-id", "abc", "--name", "x"], "student ID 'abc' must be digits only"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, tiny_root, args, message):
    result = run_cli("--root", str(tiny_root), *args, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and message in output and "Traceback" not in output
    assert len(result.stderr.strip().splitlines()) == 1


def test_broken_rubric_is_reported_with_its_file(tiny_root):
    (tiny_root / "rubrics" / "tiny.yaml").write_text("assignment: tiny\nitems: []\n")
    result = run_cli("--root", str(tiny_root), "list")
    assert (result.returncode == 2
            and "rubrics/tiny.yaml: field items: List should have at least 1 item" in result.stderr)


def test_demo_grades_the_bundled_examples(tmp_path, tiny_root):
    result = run_cli("--root", str(tiny_root), "demo", "tiny", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["name"]: (r["score"], r["status"]) for r in csv.DictReader(open(tmp_path / "demo" / "grades.csv"))}
    assert rows == {"reference": ("16", "graded"), "skeleton": ("0", "graded"), "first_only": ("9", "graded")}
    assert "Gradebook" in result.stdout


def test_list_shows_each_assignment(tiny_root):
    result = run_cli("--root", str(tiny_root), "list")
    assert result.returncode == 0 and "tiny" in result.stdout and "Tiny averaging assignment" in result.stdout
    assert "max 15 points" in result.stdout


def test_calibrate_prints_distributions_and_saves_a_record(tmp_path, tiny_root):
    from grader.course import catalog
    from grader.course.calibration import CalibrationFile, disagreements
    from grader.course.spec import load_model

    result = run_cli("--root", str(tiny_root), "calibrate", "tiny", "--seeds", "2", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tiny calibration" in result.stdout and ">= 0.85: 2/2" in result.stdout and ">= 0.85: 0/2" in result.stdout
    saved = load_model(CalibrationFile, tmp_path / "calibration_tiny.yaml")
    record = saved.record(None)
    assert (record.values("reference", "accuracy") == [0.9, 0.9]
            and record.values("first_only", "accuracy") == [0.8, 0.8])
    assert sorted({run.seed for run in record.runs}) == [1000, 8919]  # the seeds of calibration_ids(2)
    # The saved record is the form assignments keep, and agrees with the rubric it was measured on.
    assert disagreements(saved, catalog.load("tiny", tiny_root)) == []
    quick = run_cli("--root", str(tiny_root), "calibrate", "tiny", "--seeds", "3", "--skip-baselines", "-j", "2",
                    "--out", str(tmp_path / "quick"))
    assert quick.returncode == 0, quick.stdout + quick.stderr
    record = load_model(CalibrationFile, tmp_path / "quick" / "calibration_tiny.yaml").record(None)
    assert record.submissions() == ["reference"] and record.values("reference", "accuracy") == [0.9] * 3
    assert [run.seed for run in record.runs] == sorted(run.seed for run in record.runs)


def test_image_tag_names_the_content_hash():
    import re

    result = run_cli("image", "tag")
    assert result.returncode == 0 and re.fullmatch(r"grader-sandbox:[0-9a-f]{12}", result.stdout.strip())


def test_an_unforeseen_failure_is_one_line_not_a_traceback(monkeypatch, capsys):
    from grader import cli
    from grader.course import catalog

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/course/rubrics/tiny.yaml")

    monkeypatch.setattr(catalog, "list_ids", unreadable)
    monkeypatch.setattr("sys.argv", ["grader", "list"])
    monkeypatch.delenv("GRADER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        cli.main()
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "/course/rubrics/tiny.yaml: Permission denied" in err


def test_paths_are_the_callers_also_through_run_sh(tmp_path, tiny_root, tiny):
    """`cd /tmp && /path/to/repo/run.sh grader grade sub.zip` grades sub.zip: run.sh keeps the
    caller's folder, so relative paths in and out mean what the user typed."""
    from conftest import REPO

    write_zip(tmp_path / "20250001_good.zip", student_files(tiny))
    done = subprocess.run([str(REPO / "run.sh"), "grader", "--root", str(tiny_root), "grade", "20250001_good.zip",
                           "--backend", "local", "--out", "out"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "20250001_good" / "report.json").is_file()
    missing = subprocess.run([str(REPO / "run.sh"), "grader", "grade", "nothere.zip"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "nothere.zip: no such file or folder" in missing.stderr


def _set_expectation(tiny_root, expect_items: str) -> None:
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    old = "expect_items: {accuracy: 5, answer_tests: 2, bonus_speed: 0}"
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, f"expect_items: {expect_items}"))


def test_validate_tests_only_prints_the_matrix_of_cases_without_training(tiny_root):
    result = run_cli("--root", str(tiny_root), "validate", "tiny", "--tests-only")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("│")[2].strip(): line.split("│")[3:6] for line in result.stdout.splitlines()
            if line.count("│") == 6}
    assert [c.strip() for c in rows["mean_of_three"]] == ["pass", "fail", "fail"]  # reference, skeleton, first_only
    assert [c.strip() for c in rows["mean_of_one"]] == ["pass", "fail", "pass"]
    assert [c.strip() for c in rows["parameters of Net(width=3)"]] == ["pass", "fail", "pass"]
    for line in ["ok   hidden tests: reference: 4/4 cases pass", "ok   hidden tests: skeleton: 0/4 cases pass",
                 "ok   hidden tests: baseline first_only: 3/4 cases pass"]:
        assert f"tiny: {line}" in result.stdout
    assert "grading" not in result.stdout and "result_log.txt" not in result.stdout  # nothing was trained or graded


def test_validate_tests_only_fails_on_an_undeclared_loss_or_a_skeleton_that_passes(tiny_root):
    _set_expectation(tiny_root, "{accuracy: 5, bonus_speed: 0}")  # answer_tests lost but not declared
    answer = tiny_root / "skeleton" / "tiny" / "answer.py"
    answer.write_text(answer.read_text().replace(
        "raise NotImplementedError('TODO (answer.py): the arithmetic mean')", "return values[0]"))
    assert "return values[0]" in answer.read_text()
    result = run_cli("--root", str(tiny_root), "validate", "tiny", "--tests-only")
    assert result.returncode == 1
    assert ("FAIL hidden tests: baseline first_only: answer_tests: 2 points, not declared as lost (expected its full "
            "3) (fails mean_of_three)") in result.stdout
    assert "FAIL hidden tests: skeleton: passes answer_tests::mean_of_one" in result.stdout


def test_validate_tests_only_fails_when_the_reference_fails_a_case(tiny_root, tmp_path):
    solution = tiny_root / "solutions" / "tiny" / "answer.py"
    solution.write_text(solution.read_text() + "\n\nclass Net:\n    def __init__(self, width):\n"
                                               "        raise ValueError('broken')\n")
    result = run_cli("--root", str(tiny_root), "validate", "tiny", "--tests-only",
                     env={"GRADER_CACHE": str(tmp_path / "cache")})
    assert (result.returncode == 1
            and "FAIL hidden tests: reference: the reference solution fails hidden test" in result.stdout)


def test_validate_tests_only_on_a_shipped_assignment():
    result = run_cli("validate", "channel_shift", "--tests-only", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "worst_group_loss_value_and_weights" in result.stdout
    for line in ["ok   hidden tests: reference: 5/5", "ok   hidden tests: skeleton: 0/5",
                 "ok   hidden tests: baseline plain_in_disguise: 3/5",
                 "ok   hidden tests: baseline balanced_mean_loss: 4/5",
                 "ok   calibration of metric items: balanced_accuracy recorded"]:
        assert f"channel_shift: {line}" in result.stdout


def test_validate_holds_a_baseline_to_every_item(tiny_root):
    """A baseline declares each item it loses; an undeclared loss, and a declaration at full points, fail."""
    _set_expectation(tiny_root, "{accuracy: 5, bonus_speed: 0, params: 2}")
    result = run_cli("--root", str(tiny_root), "validate", "tiny")
    assert result.returncode == 1
    assert "FAIL baseline first_only declaration: declares params: 2, its full points" in result.stdout
    assert ("FAIL baseline first_only: answer_tests: 2 points, not declared as lost (expected its full 3)"
            in result.stdout)


def test_validate_requires_a_calibration_record_of_every_metric_item(tiny_root):
    record = tiny_root / "assignments" / "tiny" / "calibration.yaml"
    record.write_text(record.read_text().replace(", bonus_speed: 0.9}", "}").replace(", bonus_speed: 0.8}", "}"))
    result = run_cli("--root", str(tiny_root), "validate", "tiny", "--tests-only")
    assert result.returncode == 1
    assert "FAIL calibration of metric items: no recorded reference value for bonus_speed" in result.stdout
    record.unlink()
    result = run_cli("--root", str(tiny_root), "validate", "tiny", "--tests-only")
    assert result.returncode == 1
    assert "FAIL calibration of metric items: no calibration.yaml for accuracy, bonus_speed" in result.stdout


def test_calibrate_write_merges_into_the_course_and_only_reruns_one_example(tiny_root):
    from grader.course.calibration import CalibrationFile
    from grader.course.spec import load_model

    path = tiny_root / "assignments" / "tiny" / "calibration.yaml"
    path.write_text("assignment: tiny\nrecords:\n- dataset: null\n  measured: by hand\n  notes: why 0.85\n  runs:\n"
                    "  - {submission: reference, seed: 1000, values: {accuracy: 0.1}}\n"
                    "  - {submission: reference, seed: 1, values: {accuracy: 0.9}}\n"
                    "  - {submission: first_only, seed: 1, values: {accuracy: 0.8}}\n")
    result = run_cli("--root", str(tiny_root), "calibrate", "tiny", "--seeds", "1", "--only", "reference", "--write")
    assert result.returncode == 0, result.stdout + result.stderr
    record = load_model(CalibrationFile, path).record(None)
    assert record.notes.strip() == "why 0.85"
    assert [(r.submission, r.seed, r.values["accuracy"]) for r in record.runs] == [
        ("reference", 1, 0.9), ("reference", 1000, 0.9), ("first_only", 1, 0.8)]  # seed 1000 re-measured
    assert record.measured.startswith("by hand\nthen ")
    assert record.measured.endswith(f"grader --root {tiny_root} calibrate tiny --seeds 1 --only reference --write")
    assert "--dataset" not in record.measured
    result = run_cli("--root", str(tiny_root), "calibrate", "tiny", "--seeds", "1", "--only", "nobody")
    assert result.returncode != 0 and "--only 'nobody': not the reference or a baseline" in result.stderr


def test_calibrate_records_and_prints_each_steps_peak_memory(tiny_root):
    """`calibrate --write` keeps each run's peak resident memory per step (MiB, measured by the
    sandbox) beside its values, prints the highest, and the Gradescope README states it."""
    from grader.commands.gradescope import bundle_readme
    from grader.course import calibration, catalog

    for side in ("solutions", "skeleton"):  # the tiny experiment sleeps half a second: long enough to be sampled
        (tiny_root / side / "tiny" / "SLEEP").write_text("0.5")
    result = run_cli("--root", str(tiny_root), "calibrate", "tiny", "--seeds", "1", "--only", "reference", "--write")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "peak memory of reference (MiB, highest over its runs): main " in result.stdout
    assignment = catalog.load("tiny", tiny_root)
    record = calibration.load(assignment).record(None)
    fresh = next(r for r in record.runs if r.submission == "reference" and r.seed == 1000)
    assert 5 < fresh.memory_mb["main"] < 500  # a small Python process
    assert "memory_mb: {main: " in (assignment.folder / "calibration.yaml").read_text()
    peak = calibration.peak_memory_mb(calibration.load(assignment))
    assert peak == fresh.memory_mb["main"]
    readme = bundle_readme(assignment)
    assert f"a step peaks at {math.ceil(peak)} MB resident (the reference's largest step in tiny/calibration.yaml)" \
        in readme


def test_grader_alone_prints_the_help():
    result = run_cli()
    assert result.returncode == 0 and "Usage:" in result.stdout and "validate" in result.stdout and not result.stderr
