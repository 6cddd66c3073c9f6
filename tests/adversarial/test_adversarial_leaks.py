"""Nothing a submission does reaches the host, another student's page or the rest of the batch
(issue 24): host files behind a link never reach a report, hidden-test runner sources never
reach a student-visible message, one odd file name never loses the gradebook."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from adversarial import hostile
from grader.course import catalog
from grader.sandbox import LocalSandbox
from grader.steps.pipeline import grade_submission

from conftest import student_files, write_zip

CANARY = "CanaryError: host-canary-7f3e91 must never reach a report"


def _student_visible(folder: Path) -> dict[str, str]:
    return {name: (folder / name).read_text(encoding="utf-8")
            for name in ("report.json", "results.json", "student.html") if (folder / name).is_file()}


def _finish(report, out: Path, assignment) -> Path:
    from grader.batch.run import finish_reports

    finish_reports([Path(report.source)], [report], out, {}, assignment)
    return out / report.stem


@pytest.fixture
def two_steps(tiny_root: Path) -> catalog.Assignment:
    """The tiny assignment with a second step that needs the first: a failed first step's
    diagnosis is shown in the second's skip note."""
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("    log: result_log.txt\n", "    log: result_log.txt\n"
                                             "  - name: evaluate\n"
                                             "    command: \"{python} experiment.py --seed {seed}\"\n"
                                             "    log: eval_log.txt\n    needs: [main]\n", 1))
    return catalog.load("tiny", tiny_root)


def test_a_failed_step_whose_log_links_to_a_host_file_never_shows_it(tmp_path, two_steps):
    host_file = tmp_path / "host" / "secret.log"
    host_file.parent.mkdir()
    host_file.write_text(f"Traceback (most recent call last):\n  File \"/etc/x.py\", line 1\n{CANARY}\n")
    files = student_files(two_steps)
    files["answer.py"] = (hostile.LOG_LINK_TO_CANARY_THEN_FAIL.replace("{outside!r}", repr(str(host_file)))
                          + files["answer.py"])
    out = tmp_path / "out"
    report = grade_submission(write_zip(tmp_path / "20250001_x.zip", files), two_steps, LocalSandbox(), out)
    assert report.runs[0].outcome == "exit code 1" and report.runs[1].outcome == "skipped"
    written = _student_visible(_finish(report, out, two_steps))
    assert set(written) == {"report.json", "results.json", "student.html"}
    for name, text in written.items():
        assert "host-canary" not in text, name
    assert "host-canary" not in json.dumps(report.model_dump())
    assert host_file.read_text().endswith(CANARY + "\n")


def _runner_lines(assignment) -> list[str]:
    lines = []
    for rel in assignment.runner_files():
        lines += [line.strip() for line in (assignment.folder / rel).read_text().splitlines()
                  if len(line.strip()) >= 12]
    return lines


def test_a_student_function_raising_the_runner_files_text_leaks_none_of_it(tmp_path, tiny):
    files = student_files(tiny)
    files["answer.py"] += hostile.RAISE_RUNNER_SOURCE  # replaces mean(): every call raises what it read
    out = tmp_path / "out"
    report = grade_submission(write_zip(tmp_path / "20250001_x.zip", files), tiny, LocalSandbox(), out)
    assert any(i.id == "answer_tests" and i.points < i.max_points for i in report.items)
    written = _student_visible(_finish(report, out, tiny))
    assert set(written) == {"report.json", "results.json", "student.html"}
    lines = _runner_lines(tiny)
    assert lines
    for name, text in written.items():
        leaked = [line for line in lines if line in text or json.dumps(line)[1:-1] in text]
        assert not leaked, (name, leaked)


def test_the_runner_kit_removes_the_runner_files_before_student_code_runs(tmp_path):
    import subprocess
    import sys

    hidden = tmp_path / ".grader" / "hidden_tests"
    hidden.mkdir(parents=True)
    (hidden / "r.py").write_text("from grader.inside.runner_kit import case\n\n@case\ndef reads():\n"
                                 "    from student import peek\n    return {'seen': peek()}\n")
    (tmp_path / "student.py").write_text("import os\n\ndef peek():\n"
                                         "    return str(os.path.exists('.grader/hidden_tests/r.py'))\n")
    subprocess.run([sys.executable, "-m", "grader.inside.runner_kit", "out.json", ".grader/hidden_tests/r.py"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert json.loads((tmp_path / "out.json").read_text())["r::reads"] == {"outputs": {"seen": "False"}}
    assert not hidden.exists()


def test_messages_from_student_exceptions_lose_every_runner_line():
    from grader.verdict.checker import without_sources

    lines = frozenset({"return {'mean': mean([1.0, 2.0, 3.0])}", "from grader.inside.runner_kit import case"})
    forged = ("RuntimeError: from grader.inside.runner_kit import case\n@case\n"
              "return {'mean': mean([1.0, 2.0, 3.0])}" + "x" * 900)
    cleaned = without_sources(forged, lines)
    assert "runner_kit import" not in cleaned and "mean([1.0" not in cleaned and "\n" not in cleaned
    assert cleaned.startswith("RuntimeError: ") and len(cleaned) <= 300


def test_a_zip_name_that_is_not_utf8_never_loses_the_gradebook(tmp_path, tiny, sandbox):
    import csv
    import os

    from rich.console import Console

    from grader.batch.executors import LocalExecutor
    from grader.batch.run import finish_reports, grade_batch
    from grader.reports.report import write_gradebook

    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250002_bo.zip", student_files(tiny))
    write_zip(Path(os.fsdecode(bytes(batch) + b"/20250001_caf\xe9.zip")), student_files(tiny))
    write_zip(batch / "20250003_zoe.zip", student_files(tiny))
    out = tmp_path / "out"
    sources = sorted(batch.iterdir())
    result = grade_batch(sources, tiny, LocalExecutor(sandbox), out, dataset=None, student_id=None,
                         console=Console(file=open(os.devnull, "w")))
    finish_reports(result.sources, result.reports, out, {}, tiny)
    write_gradebook(result.reports, out)
    rows = list(csv.reader((out / "grades.csv").open(encoding="utf-8")))
    assert sorted(row[0] for row in rows[1:]) == ["20250001", "20250002", "20250003"]
    assert all(row[4] == "graded" for row in rows[1:]), rows
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(sid in index for sid in ("20250001", "20250002", "20250003"))
    assert "caf\\udce9" in index  # the byte kept as a visible escape
    for report in result.reports:
        folder = out / report.stem
        for name in ("report.json", "results.json", "student.html"):
            assert (folder / name).is_file(), (report.stem, name)
        json.loads((folder / "results.json").read_text(encoding="utf-8"))


def test_a_failure_writing_one_students_outputs_is_that_students_status(tmp_path, monkeypatch):
    from grader.batch import run
    from grader.reports.report import Report, write_gradebook

    reports = [Report(source=f"{sid}_x.zip", stem=f"{sid}_x", student_id=sid, assignment="tiny", status="graded")
               for sid in ("20250001", "20250002")]
    real = run.write_student_outputs

    def breaks_on_the_first(report, folder, due=None):
        if report.student_id == "20250001":
            raise OSError(28, "No space left on device")
        return real(report, folder, due)

    monkeypatch.setattr(run, "write_student_outputs", breaks_on_the_first)
    run.finish_reports([Path(r.source) for r in reports], reports, tmp_path, {})
    assert [r.status for r in reports] == ["crashed", "graded"]
    assert "could not be written" in reports[0].message
    assert (tmp_path / "20250002_x" / "student.html").is_file()
    write_gradebook(reports, tmp_path)
    assert "20250001" in (tmp_path / "grades.csv").read_text() and "20250002" in (tmp_path / "index.html").read_text()


def test_pages_never_carry_raw_control_bytes_from_a_student_chosen_name(tmp_path):
    import re

    from grader.reports.report import Report, write_index, write_report
    from grader.reports.visibility import write_student_page
    from grader.verdict.score import ItemResult

    name = hostile.ESCAPE_NAME
    item = ItemResult(id="answer_tests", title="Hidden tests", kind="tests", points=0, max_points=3, status="failed",
                      value=0.0, threshold=None,
                      message=f"mean: raised RuntimeError: \x1b[31m{name}\r\x07")
    report = Report(source=f"{name}.zip", stem=name, student_id="20250011", name=name.split("_", 1)[1],
                    assignment="tiny", status="error", message=f"bad \x1b[2J {name}", flags=["flag \x1b]0;x\x07"],
                    items=[item])
    folder = tmp_path / "one"
    write_report(report, folder)
    write_student_page(report, folder / "student.html")
    write_index([report], tmp_path)
    control = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    for page in (tmp_path / "index.html", folder / "report.html", folder / "student.html"):
        text = page.read_text(encoding="utf-8")
        assert not control.search(text), (page.name, control.findall(text))
        assert "\\x1b" in text  # shown as an escape, not dropped
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<blink>" not in index and "\\x07" in index


def test_a_forged_record_carrying_runner_lines_reaches_no_message(tmp_path, tiny, monkeypatch):
    """The second wall in use: outputs recorded in the student's process that quote the runner
    (here written by a stand-in sandbox, as forged records would be) lose every runner line, in
    the step's records and in the checked case messages, for runner files and declared cases alike."""
    import json

    from grader.sandbox.base import RunResult
    from grader.steps import hidden_tests

    runner = (tiny.folder / "hidden_tests" / "answer.py").read_text()
    quoted = next(line.strip() for line in runner.splitlines() if "mean([1.0, 2.0, 3.0])" in line)

    class Forging:
        name = "local"

        def python(self):
            return sys.executable

        def run(self, request):
            out = request.workspace / hidden_tests.GRADER_DIR / hidden_tests.OUTPUTS
            out.write_text(json.dumps({"answer::mean_of_three": {"error": f"ValueError: {quoted}"},
                                       "answer::mean_of_one": {"outputs": {"mean": quoted}}}))
            return RunResult(0, False, 0.0, False, limits=request.limits)

    workspace = tmp_path / "ws"
    workspace.mkdir()
    run = hidden_tests.run_step(tiny, workspace, Forging(), tiny.spec.limits)
    assert run.records["answer::mean_of_three"].error == "ValueError: [hidden-test source removed]"
    assert quoted in hidden_tests.checker.source_lines(tiny.runner_sources().values())
