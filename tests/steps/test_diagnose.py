"""Failures explained: the gradebook names the root cause of a lost point in the student's own
terms (file, line, exception), never the grader's temporary folders; output off a terminal keeps
each message on one line."""

import csv
import json
import os
import subprocess
import sys

import pytest

from grader.steps.diagnose import crash_site, scrub

from conftest import REPO, run_cli, student_files, write_zip

SYNTAX_LOG = """Dataset: fashion_mnist; seed: 2426
Traceback (most recent call last):
  File "/tmp/grader-k2j3/workspace/main.py", line 12, in <module>
    import model
  File "/tmp/grader-k2j3/workspace/model.py", line 61
    def penalty(self, logits y):
                             ^
SyntaxError: invalid syntax
"""


def test_crash_site_names_the_students_file_and_line():
    assert crash_site(SYNTAX_LOG) == "model.py:61 SyntaxError: invalid syntax"
    library = ('Traceback (most recent call last):\n  File "/w/workspace/train.py", line 9, in <module>\n'
               '  File "/usr/lib/python3.11/site-packages/torch/nn.py", line 400, in forward\n'
               "RuntimeError: mat1 and mat2 shapes cannot be multiplied\n")
    assert crash_site(library) == "train.py:9 RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    assert crash_site("all good\nSummary: {}\n") is None


def test_scrub_turns_temporary_paths_into_the_students():
    assert (scrub("/tmp/grader-ab/workspace/model.py:3: bad", __import__("pathlib").Path("/tmp/grader-ab"))
            == "model.py:3: bad")


def test_gradebook_names_the_root_cause_of_a_broken_submission(tmp_path, tiny_root, tiny):
    files = student_files(tiny)
    files["answer.py"] = files["answer.py"].replace("def mean(values):", "def mean(values)")  # a SyntaxError
    write_zip(tmp_path / "20250042_ana.zip", files)
    result = run_cli("--root", str(tiny_root), "grade", str(tmp_path / "20250042_ana.zip"),
                     "--out", str(tmp_path / "out"))
    row = next(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    line = next(n for n, text in enumerate(files["answer.py"].splitlines(), 1) if text.startswith("def mean"))
    assert row["flags"].startswith(f"answer.py:{line} SyntaxError"), row["flags"]
    assert "every experiment failed" in row["flags"]
    report_text = (tmp_path / "out" / "20250042_ana" / "report.json").read_text()
    assert "/tmp/grader-" not in report_text and "grader-" not in json.loads(report_text)["cause"]
    assert f"answer.py:{line} SyntaxError" in result.stdout


def test_output_off_a_terminal_does_not_wrap(tmp_path, tiny_root):
    long_name = "20250042_" + "a" * 150 + ".zip"
    (tmp_path / long_name).write_bytes(b"not a zip at all")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(GRADER_BACKEND="local")
    done = subprocess.run([sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(tmp_path / long_name),
                           "--out", str(tmp_path / "out")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    message = next(line for line in done.stdout.splitlines() if "not a readable zip archive" in line)
    assert long_name in message  # the whole path and the reason on one line


def test_a_step_whose_input_failed_is_skipped_not_run_and_charged_again(tmp_path, tiny_root, tiny):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("    log: result_log.txt\n", "    log: result_log.txt\n"
                                             "  - name: evaluate\n"
                                             "    command: \"{python} experiment.py --seed {seed}\"\n"
                                             "    log: eval_log.txt\n    needs: [main]\n", 1))
    from grader.course import catalog
    from grader.sandbox import LocalSandbox
    from grader.steps.pipeline import grade_submission

    assignment = catalog.load("tiny", tiny_root)
    files = student_files(assignment)
    files["answer.py"] = files["answer.py"].replace("def mean(values):", "def mean(values)")
    report = grade_submission(write_zip(tmp_path / "20250042_ana.zip", files), assignment, LocalSandbox(),
                              tmp_path / "out")
    main, evaluate = report.runs
    assert main.outcome == "not started: answer.py does not compile"  # fail_fast: it would die importing answer.py
    assert evaluate.outcome == "skipped" and evaluate.seconds == 0
    assert evaluate.stopped.startswith("skipped: main failed (answer.py:") and "SyntaxError" in evaluate.stopped
    assert report.cause.endswith("SyntaxError: expected ':', every experiment failed")


def test_needs_must_name_an_earlier_experiment(tiny_root):
    from grader.course import catalog
    from grader.errors import SpecError

    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("    log: result_log.txt\n", "    log: result_log.txt\n"
                                                                          "    needs: [later]\n", 1))
    with pytest.raises(SpecError, match="needs 'later', which is not an earlier experiment"):
        catalog.load("tiny", tiny_root)
