import json

from grader.course.spec import SeedRule
from grader.steps.pipeline import check_own_logs, grade_submission, seed_for

from conftest import student_files, write_zip

LOG = "Summary: {'Accuracy_testmean': 0.9, 'Accuracy_teststd': 0.0}\n"


def test_seed_is_the_last_four_digits():
    assert seed_for("12332426", SeedRule()) == 2426
    assert seed_for("20250042", SeedRule()) == 42
    assert seed_for("123", SeedRule(digits=4)) == 123


def test_correct_submission_gets_full_marks_and_a_complete_report(tmp_path, tiny, sandbox):
    z = write_zip(tmp_path / "20250042_ana.zip", {**student_files(tiny), "result_log.txt": LOG}, folder="20250042_ana")
    report = grade_submission(z, tiny, sandbox, tmp_path / "out")
    assert report.status == "graded" and report.score == 16 and report.max_score == 15 and report.bonus_points == 1
    assert (report.student_id, report.name, report.seed) == ("20250042", "ana", 42)
    saved = json.loads((tmp_path / "out" / "20250042_ana" / "report.json").read_text())
    for key in ("student_id", "name", "assignment", "seed", "status", "score", "max_score", "items", "warnings",
                "timings"):
        assert key in saved
    assert set(saved["items"][0]) >= {"id", "title", "value", "threshold", "points", "max_points", "status", "message"}
    assert (tmp_path / "out" / "20250042_ana" / "logs" / "result_log.txt").read_text().endswith(
        LOG.replace("0.9,", "0.9,"))
    assert report.curves["result_log.txt"]["train_loss"] == [1.0, 0.5, 1 / 3]
    assert report.flags == [] and report.warnings == []


def test_skeleton_scores_zero_with_reasons(tmp_path, tiny, sandbox):
    z = write_zip(tmp_path / "20250042_ana.zip", student_files(tiny, "skeleton"))
    report = grade_submission(z, tiny, sandbox, tmp_path / "out")
    assert report.status == "graded" and report.score == 0
    accuracy = next(i for i in report.items if i.id == "accuracy")
    # the reason names the failing line of the log, not only the exit code
    assert (accuracy.status == "error"
            and "the run failed (exit code 1: NotImplementedError: TODO (answer.py)" in accuracy.message)
    tests = next(i for i in report.items if i.id == "answer_tests")
    assert "0/3 tests passed" in tests.message and "NotImplementedError" in tests.message


def test_forged_log_is_flagged_and_not_scored(tmp_path, tiny, sandbox):
    forged = "Summary: {'Accuracy_testmean': 0.99}\n"
    files = {**student_files(tiny), "result_log.txt": forged}
    files["answer.py"] = files["answer.py"].replace("return sum(values) / len(values)", "return values[0]")
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), tiny, sandbox, tmp_path / "out")
    accuracy = next(i for i in report.items if i.id == "accuracy")
    assert accuracy.value == 0.8 and accuracy.points == 5
    assert report.flags == ["submitted logs differ from re-run: result_log.txt Accuracy_testmean submitted 0.9900, "
                            "re-run 0.8000 (tolerance 0.01)"]


def with_limits(tiny, limits: str):
    """The tiny assignment with its `wall_seconds: 30` line replaced by `limits`."""
    from grader.course import catalog

    spec = tiny.root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", limits))
    return catalog.load("tiny", tiny.root)


def test_timeout_gives_status_timeout(tmp_path, tiny, sandbox):
    tiny = with_limits(tiny, "wall_seconds: 1")
    files = student_files(tiny)
    files["answer.py"] = "import time\ntime.sleep(60)\n" + files["answer.py"]
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), tiny, sandbox, tmp_path / "out")
    # a sleep uses no CPU and waits for no core: stopped as idle after the idle interval, once (a
    # busy machine leaves a step waiting for a core, never idle, so running it again would not help)
    assert report.status == "timeout" and report.score == 0
    assert "timed out: main stopped as idle: no CPU used for 1 s, sleeping or blocked (" in report.message
    assert report.runs[0].attempts == 1 and report.runs[0].limit == "idle"
    assert not [w for w in report.warnings if "run once more" in w]


def test_a_step_at_the_wall_clock_ceiling_is_run_once_more(tmp_path, tiny, sandbox):
    # a wall-clock budget for the submission beyond the step's: the second run fits in it
    tiny = with_limits(tiny, "wall_seconds: 0.5\n  ceiling_factor: 2\n  submission_wall_seconds: 30")
    files = student_files(tiny)
    files["answer.py"] = "while True:\n    pass\n" + files["answer.py"]
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), tiny, sandbox, tmp_path / "out")
    assert report.status == "timeout" and report.runs[0].attempts == 2 and report.runs[0].limit == "wall"
    assert ("timed out: main stopped at the wall-clock ceiling of 1 s (" in report.message
            and "run twice)" in report.message)


def test_cpu_limit_gives_status_timeout_naming_the_step_and_how_far_it_got(tmp_path, tiny, sandbox):
    spec = tiny.root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("cpu_seconds: 20", "cpu_seconds: 1"))
    from grader.course import catalog

    tiny = catalog.load("tiny", tiny.root)
    files = student_files(tiny)
    files["experiment.py"] = "ignored"  # protected: the pristine one runs
    files["answer.py"] = files["answer.py"].replace(
        '"""Arithmetic mean of a non-empty list."""', '"""Arithmetic mean."""\n    print("epoch 1 done", flush=True)\n'
                                                      '    while True:\n        pass')
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), tiny, sandbox, tmp_path / "out")
    assert report.status == "timeout" and next(i for i in report.items if i.id == "accuracy").points == 0
    assert report.message.startswith("timed out: main stopped at the CPU-time limit of 1 s")
    assert "last output: epoch 1 done" in report.message
    assert report.runs[0].attempts == 1 and report.runs[0].limit == "cpu"
    log = (tmp_path / "out" / "1_a" / "logs" / "result_log.txt").read_text()
    assert log.endswith("[grader] stopped at the CPU-time limit of 1 s\n")


def test_rejected_submission_has_a_report(tmp_path, tiny, sandbox):
    z = write_zip(tmp_path / "1_a.zip", {"answer.py": "", "../evil.py": ""})
    report = grade_submission(z, tiny, sandbox, tmp_path / "out")
    assert report.status == "rejected" and "outside the archive" in report.message
    assert json.loads((tmp_path / "out" / "1_a" / "report.json").read_text())["status"] == "rejected"


def test_grading_twice_gives_identical_scores(tmp_path, tiny, sandbox):
    z = write_zip(tmp_path / "20250042_ana.zip", student_files(tiny))
    first = grade_submission(z, tiny, sandbox, tmp_path / "a")
    second = grade_submission(z, tiny, sandbox, tmp_path / "b")
    assert first.scores_only() == second.scores_only()


def test_check_and_grade_agree_on_the_same_logs(tmp_path, tiny, sandbox):
    folder = tmp_path / "20250042_ana"
    folder.mkdir()
    for rel, text in {**student_files(tiny), "result_log.txt": LOG}.items():
        (folder / rel).write_text(text)
    checked = check_own_logs(tiny, folder, sandbox)
    graded = grade_submission(folder, tiny, sandbox, tmp_path / "out")
    by_id = {i.id: i for i in graded.items}
    for item in checked.items:
        if item.status == "skipped":
            assert item.kind in ("tests", "param_count")  # probes run only when the TA grades
            continue
        assert (item.points, item.value) == (by_id[item.id].points, by_id[item.id].value)


def test_syntax_error_in_the_student_file_explains_itself(tmp_path, tiny, sandbox):
    files = student_files(tiny)
    files["answer.py"] = "def mean(values):\n    return (\n"
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), tiny, sandbox, tmp_path / "out")
    by_id = {i.id: i for i in report.items}
    assert report.status == "graded" and report.score == 0
    assert "raised SyntaxError (answer.py:2): '(' was never closed" in by_id["answer_tests"].message
    assert by_id["answer_tests"].points == 0 and by_id["params"].status == "error"
    assert "building Net(width=3) raised SyntaxError (answer.py:2)" in by_id["params"].message


def test_check_ignores_data_and_caches_in_the_students_folder(tmp_path, tiny, sandbox):
    folder = tmp_path / "work"
    folder.mkdir()
    for rel, text in {**student_files(tiny), "result_log.txt": LOG}.items():
        (folder / rel).write_text(text)
    (folder / "data_cache").mkdir()
    (folder / "data_cache" / "colored.npz").write_bytes(b"\0" * (tiny.spec.intake.max_bytes + 1))
    (folder / "weights").mkdir()
    (folder / "weights" / "w.npz").write_bytes(b"\0")
    report = check_own_logs(tiny, folder, sandbox)
    assert next(i for i in report.items if i.id == "accuracy").points == 10


def test_a_grader_failure_on_one_submission_is_its_status_crashed(tmp_path, tiny, sandbox, monkeypatch):
    import grader.steps.pipeline as pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in scoring")

    monkeypatch.setattr(pipeline, "score", broken)
    report = grade_submission(write_zip(tmp_path / "20250042_ana.zip", student_files(tiny)), tiny, sandbox,
                              tmp_path / "out")
    assert report.status == "crashed" and report.message == "internal error: RuntimeError: a bug in scoring"
    folder = tmp_path / "out" / "20250042_ana"
    assert json.loads((folder / "report.json").read_text())["status"] == "crashed"
    assert "RuntimeError: a bug in scoring" in (folder / "grader_error.txt").read_text()


def test_a_report_that_cannot_be_written_still_ends_as_a_status(tmp_path, tiny, sandbox, monkeypatch):
    import grader.steps.pipeline as pipeline

    real = pipeline.write_report

    def html_fails(report, folder, html=True):
        if html:
            raise OSError(28, "No space left on device")
        return real(report, folder, html=False)

    monkeypatch.setattr(pipeline, "write_report", html_fails)
    report = grade_submission(write_zip(tmp_path / "20250042_ana.zip", student_files(tiny)), tiny, sandbox,
                              tmp_path / "out")
    assert report.status == "crashed" and report.message.startswith("the report could not be written: OSError")
    assert json.loads((tmp_path / "out" / "20250042_ana" / "report.json").read_text())["status"] == "crashed"
