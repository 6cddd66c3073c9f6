"""Hostile submissions (tests/adversarial/hostile.py) against the host side of the grader:
each ends with a clear status, nothing outside the workspace is read or written, the grader
never hangs or crashes and the batch goes on. Graded through the local backend here (the
Docker backend in tests/sandbox/test_docker.py runs the same attacks when a daemon answers)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from adversarial import hostile
from grader.course import catalog
from grader.safe_fs import COPY_CAP
from grader.sandbox import LocalSandbox
from grader.steps.pipeline import grade_submission

from conftest import TINY, TINY_NB, cpu_hogs, run_cli, student_files, write_zip

PASSWD_MARK = "root:x:0:0"
SECRET = "host-secret-do-not-leak"


def hostile_course(root: Path) -> Path:
    """The tiny assignment with tight limits, so every attack is stopped in seconds."""
    shutil.copytree(TINY, root, ignore=shutil.ignore_patterns("__pycache__"))
    spec = root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 30\n  workspace_mb: 100\n"
                                                                 "  workspace_files: 500")
                    .replace("cpu_seconds: 20", "cpu_seconds: 3"))
    return root


@pytest.fixture
def course(tmp_path) -> catalog.Assignment:
    return catalog.load("tiny", hostile_course(tmp_path / "course"))


@pytest.fixture
def outside(tmp_path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


def grade(tmp_path: Path, assignment, code: str, outside: Path, name: str = "20250001_x", sandbox=None):
    files = student_files(assignment)
    files["answer.py"] = code.replace("{outside!r}", repr(str(outside))) + "\n" + files["answer.py"]
    out = tmp_path / "out"
    report = grade_submission(write_zip(tmp_path / f"{name}.zip", files), assignment, sandbox or LocalSandbox(), out)
    return report, out / name


def everything_written(out: Path) -> str:
    text = []
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text.append(path.read_bytes()[:COPY_CAP + 1000].decode("utf-8", "replace"))
        assert not path.is_symlink(), f"the report holds a link: {path}"
    return "\n".join(text)


def attacked(attack: str, tmp_path: Path, course, outside: Path, monkeypatch, sandbox=None) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # the grader's workspaces go here, and must go away
    start = time.monotonic()
    report, folder = grade(tmp_path, course, hostile.RUNTIME_ATTACKS[attack], outside, sandbox=sandbox)
    assert time.monotonic() - start < 120
    assert report.status in ("graded", "timeout", "error"), (report.status, report.message)
    assert outside.read_text() == SECRET + "\n" and sorted(os.listdir(outside.parent)) == ["secret.txt"]
    written = everything_written(tmp_path / "out")
    assert PASSWD_MARK not in written and SECRET not in written
    saved = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert saved["status"] == report.status
    assert os.listdir(private_tmp) == [], "the workspace was left behind"
    expectations = {
        "symlink_log_to_passwd": lambda: "symbolic link" in _item(report, "accuracy").message,
        "symlink_log_outside_then_time_out": lambda: report.status == "timeout"
        and "main stopped at the CPU-time limit of 3 s" in report.message,
        "fifo_as_log": lambda: "not a regular file (a FIFO)" in _item(report, "accuracy").message,
        "link_to_dev_zero": lambda: "symbolic link" in _item(report, "accuracy").message,
        "sparse_huge_log": lambda: (folder / "logs" / "result_log.txt").stat().st_size <= COPY_CAP + 100,
        "sparse_past_the_file_limit": lambda: "File too large" in (folder / "logs" / "result_log.txt").read_text(),
        "deep_tree": lambda: report.status == "error" and "nested deeper than 32 levels" in report.message,
        "non_utf8_names": lambda: report.status == "graded" and report.score == 16,
        "chatty": lambda: report.runs[0].output_truncated
        and (folder / "logs" / "result_log.txt").stat().st_size < 100_000 + 200,
        "too_many_files": lambda: report.status == "error" and "more than 500 files and folders" in report.message,
        "planted_config": lambda: report.status == "graded" and report.score == 16,
    }
    assert expectations[attack](), (report.status, report.message, [(i.id, i.message) for i in report.items])


@pytest.mark.parametrize("attack", sorted(hostile.RUNTIME_ATTACKS))
def test_runtime_attack_ends_with_a_clear_status_and_touches_nothing_outside(attack, tmp_path, course, outside,
                                                                             monkeypatch):
    attacked(attack, tmp_path, course, outside, monkeypatch)


# The attacks on the logs a report keeps, graded by a cluster worker: it reads them into memory and
# sends them with the report instead of copying them into a report folder.
LOG_ATTACKS = ["symlink_log_to_passwd", "symlink_log_outside_then_time_out", "fifo_as_log", "link_to_dev_zero",
               "sparse_huge_log"]


@pytest.mark.parametrize("attack", LOG_ATTACKS)
def test_log_attack_on_a_cluster_worker_sends_nothing_from_outside(attack, tmp_path, course, outside, monkeypatch):
    import grader.batch.dask_worker as worker

    monkeypatch.setenv(catalog.ROOT_ENV, str(course.root))
    monkeypatch.setattr(worker, "_FINGERPRINTS", {})
    monkeypatch.setattr(worker, "_ASSIGNMENTS", {})
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    files = student_files(course)
    files["answer.py"] = hostile.RUNTIME_ATTACKS[attack].replace("{outside!r}", repr(str(outside))) + "\n" + \
        files["answer.py"]
    task = {"name": "20250001_x.zip", "data": write_zip(tmp_path / "s.zip", files).read_bytes(),
            "source": "/on/the/client/20250001_x.zip", "assignment": "tiny", "dataset": None, "student_id": None,
            "key": "k", "backend": "local", "fingerprint": worker.course_fingerprint(course.root, "local")}
    start = time.monotonic()
    result = worker.grade_task(task)
    assert time.monotonic() - start < 120
    report = json.loads(result["report"])
    assert report["status"] in ("graded", "timeout", "error"), (report["status"], report["message"])
    sent = b"".join(result["files"].values()).decode("utf-8", "replace") + result["report"]
    assert PASSWD_MARK not in sent and SECRET not in sent
    assert outside.read_text() == SECRET + "\n" and os.listdir(private_tmp) == []
    assert all(len(data) <= worker.REPORT_FILE_CAP for data in result["files"].values())
    if attack == "sparse_huge_log":  # over the cap a worker sends: named, not sent
        assert result["dropped"] == ["logs/result_log.txt"] and "logs/result_log.txt" not in result["files"]


@pytest.fixture(scope="module")
def docker_sandbox():
    from grader.sandbox import docker
    from grader.sandbox.image import image_tag

    if not docker.daemon_answers() or not docker.image_present(image_tag()):
        pytest.skip("no Docker daemon or grading image: the Docker runs of the attacks are not done")
    return docker.DockerSandbox(image_tag())


@pytest.mark.docker
@pytest.mark.parametrize("attack", sorted(hostile.RUNTIME_ATTACKS))
def test_runtime_attack_through_docker(attack, tmp_path, course, outside, monkeypatch, docker_sandbox):
    attacked(attack, tmp_path, course, outside, monkeypatch, sandbox=docker_sandbox)


def _item(report, item_id):
    return next(i for i in report.items if i.id == item_id)


def test_planted_tool_configuration_never_reaches_a_later_step(tmp_path, course):
    from grader.steps.intake import open_submission
    from grader.steps.workspace import prepare_workspace, restore_protected

    submitted = tmp_path / "sub"
    submitted.mkdir()
    (submitted / "answer.py").write_text(student_files(course)["answer.py"])
    ws = prepare_workspace(course, open_submission(submitted, tmp_path / "in", course.spec.intake, "20250001"),
                           tmp_path / "ws")
    planted = ["pytest.ini", "conftest.py", "setup.cfg", "tox.ini", "evil.pth", "sitecustomize.py", "sub/conftest.py",
               "sub/pyproject.toml", "torch.py"]
    for rel in planted:
        (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.path / rel).write_text("planted")
    (ws.path / "weights").mkdir()
    (ws.path / "weights" / "model.npz").write_bytes(b"data a later step reads")
    os.mkfifo(ws.path / "pipe")
    (ws.path / "link").symlink_to("/etc/passwd")
    restore_protected(course, ws)
    assert [rel for rel in planted if (ws.path / rel).exists()] == []
    assert (ws.path / "weights" / "model.npz").read_bytes() == b"data a later step reads"
    assert not (ws.path / "pipe").exists() and not (ws.path / "link").is_symlink()
    assert (ws.path / "answer.py").is_file() and (ws.path / "experiment.py").is_file()


# ----------------------------------------------------------------------------- names and archives

def test_names_are_inert_on_the_terminal_and_in_the_spreadsheet(tmp_path, course):
    batch = tmp_path / "batch"
    batch.mkdir()
    good = student_files(course)
    for name in (hostile.ESCAPE_NAME, hostile.FORMULA_NAME, hostile.DOTS_NAME):
        write_zip(batch / f"{name}.zip", good)
    out = tmp_path / "out"
    result = run_cli("--root", str(course.root), "grade", str(batch), "--out", str(out), "--backend", "local",
                     timeout=300)
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and result.returncode in (1, 2), shown
    assert "\x1b" not in shown and "\x07" not in shown
    assert not any(line.startswith("[grader] 20250011") for line in shown.splitlines())
    rows = list(csv.reader((out / "grades.csv").open(encoding="utf-8")))
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "@", "-")) for cell in cells if not _number(cell)), rows
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    # every report folder sits directly inside --out, the `...zip` one too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "course", "out"]
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 3 and all((p / "report.json").is_file() for p in folders)
    assert "<blink>" not in (out / "index.html").read_text()


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_a_member_name_that_is_not_utf8_never_crashes_a_batch(tmp_path, course):
    two = tmp_path / "two"
    hostile_course(two)
    for sub in ("assignments", "rubrics", "skeleton", "solutions"):
        for entry in (TINY_NB / sub).iterdir():
            if entry.is_dir():
                shutil.copytree(entry, two / sub / entry.name)
            else:
                shutil.copyfile(entry, two / sub / entry.name)
    batch = tmp_path / "batch"
    batch.mkdir()
    hostile.zip_with_member_name(batch / "20250001_bad.zip", student_files(course), b"\xff\xfe.py")
    write_zip(batch / "20250002_good.zip", student_files(course))
    result = run_cli("--root", str(two), "grade", str(batch), "--out", str(tmp_path / "out"), "--backend", "local",
                     timeout=300)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode in (1, 2) and result.stderr.count("\n") <= 3, result.stderr
    result = run_cli("--root", str(two), "grade", str(batch), "--assignment", "tiny", "--out", str(tmp_path / "out"),
                     "--backend", "local", timeout=300)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    reports = {json.loads(p.read_text())["student_id"]: json.loads(p.read_text())["status"]
               for p in (tmp_path / "out").glob("*/report.json")}
    assert reports == {"20250001": "rejected", "20250002": "graded"}


def test_a_zip_nested_1200_deep_is_rejected_and_the_batch_goes_on(tmp_path, course):
    batch = tmp_path / "batch"
    batch.mkdir()
    hostile.deep_zip(batch / "20250001_deep.zip", student_files(course))
    write_zip(batch / "20250002_good.zip", student_files(course))
    from rich.console import Console

    from grader.commands.grade import grade_all

    quiet = Console(file=open(os.devnull, "w"))
    reports = grade_all(sorted(batch.iterdir()), course, LocalSandbox(), tmp_path / "out", dataset=None,
                        student_id=None, console=quiet)
    assert [(r.student_id, r.status) for r in reports] == [("20250001", "rejected"), ("20250002", "graded")]
    assert "nested more than 16 folders deep" in reports[0].message


def test_a_folder_submission_with_non_utf8_names_and_a_fifo(tmp_path, course):
    folder = tmp_path / "20250001_x"
    folder.mkdir()
    for rel, text in student_files(course).items():
        (folder / rel).write_text(text)
    os.close(os.open(bytes(folder) + b"/notes-\xff.txt", os.O_CREAT | os.O_WRONLY))
    report = grade_submission(folder, course, LocalSandbox(), tmp_path / "out")
    assert report.status == "graded" and report.score == 16
    assert json.loads((tmp_path / "out" / "20250001_x" / "report.json")
                      .read_text(encoding="utf-8"))["status"] == "graded"
    os.mkfifo(folder / "pipe")
    report = grade_submission(folder, course, LocalSandbox(), tmp_path / "out2")
    assert report.status == "rejected" and "not a regular file" in report.message


# ----------------------------------------------------------------------------- statuses

def test_probe_step_over_its_cpu_limit_is_a_timeout(tmp_path, course, outside):
    code = ("import sys\n"
            "if 'runner_kit' in sys.argv[0]:\n"
            "    print('probing', flush=True)\n"
            "    while True:\n"
            "        pass\n")
    report, _ = grade(tmp_path, course, code, outside)
    assert report.status == "timeout", report.message
    assert report.message.startswith("timed out: hidden tests stopped at the CPU-time limit of 3 s")
    assert _item(report, "accuracy").points == 10


def test_a_sandbox_that_cannot_start_is_an_error(tmp_path, course):
    class BrokenInterpreter(LocalSandbox):
        def python(self) -> str:
            return "/nonexistent/python3"

    report = grade_submission(write_zip(tmp_path / "20250001_x.zip", student_files(course)), course,
                              BrokenInterpreter(), tmp_path / "out")
    assert report.status == "error" and report.message.startswith("main: could not start /nonexistent/python3")


def test_grade_refuses_to_run_unsandboxed_without_an_explicit_local_backend(tmp_path, course):
    zip_path = write_zip(tmp_path / "20250001_x.zip", student_files(course))
    no_docker = {"GRADER_BACKEND": "auto", "PATH": str(Path(sys.executable).parent)}
    result = run_cli("--root", str(course.root), "grade", str(zip_path), "--out", str(tmp_path / "out"), env=no_docker)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("error: no Docker daemon answers: submissions run only in the Docker sandbox "
                                     "unless you pass --backend local (a subprocess, not a security boundary)")
    assert not (tmp_path / "out").exists()
    explicit = run_cli("--root", str(course.root), "grade", str(zip_path), "--out", str(tmp_path / "out"),
                       "--backend", "local", env=no_docker)
    assert explicit.returncode == 0, explicit.stderr


# ----------------------------------------------------------------------------- a busy machine

def test_same_scores_idle_and_beside_cpu_hogs(tmp_path, course):
    zip_path = write_zip(tmp_path / "20250001_x.zip", student_files(course))
    idle = grade_submission(zip_path, course, LocalSandbox(), tmp_path / "idle")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        busy = grade_submission(zip_path, course, LocalSandbox(), tmp_path / "busy")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert idle.status == busy.status == "graded"
    assert busy.scores_only() == idle.scores_only()


@pytest.mark.slow
def test_the_reference_gets_the_same_item_scores_beside_8x_oversubscription(tmp_path, tiny):
    """Issue 23's done-when: the tiny reference graded idle, then beside 8 busy multi-threaded
    processes per core (16 on two cores, 32 threads): the same status and the same item scores."""
    zip_path = write_zip(tmp_path / "20250042_reference.zip", student_files(tiny))
    idle = grade_submission(zip_path, tiny, LocalSandbox(), tmp_path / "idle")
    with cpu_hogs(per_core=8):
        busy = grade_submission(zip_path, tiny, LocalSandbox(), tmp_path / "busy")
    assert idle.status == busy.status == "graded", (busy.status, busy.message)
    assert {i.id: (i.status, i.points, i.value) for i in busy.items} == {
        i.id: (i.status, i.points, i.value) for i in idle.items}
    assert busy.score == idle.score >= idle.max_score  # the reference earns every point (and the bonus)
    assert all(run.attempts == 1 for run in busy.runs)  # no step needed the wall-clock ceiling's second run
