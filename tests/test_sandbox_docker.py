"""The Docker backend against hostile submissions. Needs a running daemon and the grading
image (`grader image build`); without them these tests are skipped with the reason shown."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from grader import catalog
from grader.image import image_tag
from grader.pipeline import grade_submission
from grader.sandbox import docker

from conftest import REPO, student_files, write_zip

pytestmark = pytest.mark.docker

if not docker.daemon_answers():
    pytest.skip("no Docker daemon answers: Docker sandbox tests not run (.ci/run starts dockerd)", allow_module_level=True)
if not docker.image_present(image_tag()):
    pytest.skip(f"grading image {image_tag()} not built: run `grader image build`", allow_module_level=True)


@pytest.fixture(scope="module")
def runner():
    return docker.DockerRunner(image_tag())


@pytest.fixture
def hostile(tmp_path, tiny_root, runner):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 8").replace("memory_mb: 1024", "memory_mb: 300"))
    assignment = catalog.load("tiny", tiny_root)

    def grade(code: str):
        files = student_files(assignment)
        files["answer.py"] = code + "\n" + files["answer.py"]
        report = grade_submission(write_zip(tmp_path / "20250001_x.zip", files), assignment, runner, tmp_path / "out")
        log = (tmp_path / "out" / "20250001_x" / "logs" / "result_log.txt").read_text(errors="replace")
        return report, log

    return grade


def no_containers_left():
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={docker.LABEL}"], capture_output=True, text=True)
    return out.stdout.strip() == ""


def test_correct_submission_full_marks_in_a_container(hostile):
    report, log = hostile("")
    assert report.status == "graded" and report.score == 16 and report.backend == "docker"
    assert no_containers_left()


def test_infinite_loop_times_out(hostile):
    report, log = hostile("while True:\n    pass")
    assert report.status == "timeout" and report.score == 0 and "killed after the wall-clock limit" in log
    assert no_containers_left()


def test_fork_bomb_is_contained(hostile):
    report, log = hostile("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert report.status in ("timeout", "graded") and report.score == 0
    assert no_containers_left()


def test_memory_hog_is_killed(hostile):
    report, log = hostile("hog = b'x' * 2_000_000_000")
    accuracy = next(i for i in report.items if i.id == "accuracy")
    assert report.score == 0 and ("out of memory" in accuracy.message or "MemoryError" in log)


def test_no_network_and_no_host_services(hostile):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    code = ("import os, socket\n"
            "print('interfaces', sorted(os.listdir('/sys/class/net')))\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('host service reached')\n"
            "except OSError as exc:\n"
            "    print('host service blocked', exc)")
    report, log = hostile(code)
    server.close()
    assert "interfaces ['lo']" in log and "host service blocked" in log and "reached" not in log
    assert report.score == 16  # the rest of the submission is fine


def test_writes_outside_the_workspace_fail_and_data_is_read_only(hostile):
    code = ("for target in ['/etc/evil', '/opt/venv/evil', '/usr/share/datasets/evil', '/home/student/evil', "
            f"'{REPO / 'data' / 'evil'}']:\n"
            "    try:\n"
            "        open(target, 'w').write('x')\n"
            "        print('WROTE', target)\n"
            "    except OSError as exc:\n"
            "        print('refused', target, type(exc).__name__)")
    report, log = hostile(code)
    assert "WROTE" not in log and log.count("refused") == 5
    assert not (REPO / "data" / "evil").exists()


def test_rewritten_protected_files_are_restored_for_the_next_step(hostile):
    code = ("import os\n"
            "open('experiment.py', 'w').write('print(\"Summary: {}\")')\n"
            "open('.hidden_tests_fake.py', 'w').write('')\n")
    report, log = hostile(code)
    tests = next(i for i in report.items if i.id == "answer_tests")
    assert tests.points == 3, tests.message  # the hidden tests ran against pristine files


def test_stdout_flood_is_capped(hostile):
    report, log = hostile("import sys\nfor _ in range(3_000_000):\n    sys.stdout.write('y' * 80 + '\\n')")
    assert "[grader] output truncated after 100000 bytes" in log and len(log) < 101_000
    assert report.runs[0].output_truncated


def test_hidden_tests_and_solutions_are_not_reachable(hostile):
    code = ("import os\n"
            f"for path in ['{REPO / 'assignments'}', '{REPO / 'solutions'}', '.hidden_tests', '/work/.hidden_tests']:\n"
            "    print('visible' if os.path.exists(path) else 'absent', path)")
    report, log = hostile(code)
    assert "visible" not in log and log.count("absent") == 4


COLORED = catalog.load("colored_mnist")
FORGER = '''
import atexit, os
FAKE = "Summary: {'Accuracy_testmean': 0.99, 'Accuracy_teststd': 0.0}"
print(FAKE)
atexit.register(print, FAKE)
# rewrite the evaluation script the next step runs, and poison the data cache
open("evaluate.py", "w").write("print(" + repr(FAKE) + ")")
os.makedirs("weights", exist_ok=True)
'''


def test_forged_summaries_and_rewritten_evaluation_do_not_score(tmp_path, runner):
    source = (COLORED.skeleton_dir / "model.py").read_text()
    files = {"model.py": FORGER + source}
    report = grade_submission(write_zip(tmp_path / "20260001_forger.zip", files), COLORED, runner, tmp_path / "out")
    points = {i.id: i.points for i in report.items}
    assert report.status == "graded" and report.score == 0, points
    dro = next(i for i in report.items if i.id == "groupdro_accuracy")
    assert dro.value is None and "the run failed" in dro.message
    train_log = (tmp_path / "out" / "20260001_forger" / "logs" / "groupDRO_train_log.txt").read_text()
    assert "0.99" in train_log  # it did print the fake line, where it is not scored


def test_batch_of_hostile_submissions_keeps_going_and_repeats_exactly(tmp_path, tiny_root, runner):
    import os

    from rich.console import Console

    from grader.commands.grade import grade_all

    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 5"))
    tiny = catalog.load("tiny", tiny_root)
    batch = tmp_path / "batch"
    batch.mkdir()
    good = student_files(tiny)
    write_zip(batch / "20250001_good.zip", good)
    write_zip(batch / "20250002_loop.zip", {"answer.py": "while True:\n    pass\n"})
    write_zip(batch / "20250003_hog.zip", {"answer.py": "hog = b'x' * 3_000_000_000\n" + good["answer.py"]})
    write_zip(batch / "20250004_bomb.zip", {"answer.py": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"})
    quiet = Console(file=open(os.devnull, "w"))
    first = grade_all(sorted(batch.iterdir()), tiny, runner, tmp_path / "a", dataset=None, student_id=None, console=quiet, jobs=2)
    assert [(r.student_id, r.score) for r in first] == [("20250001", 16), ("20250002", 0), ("20250003", 0), ("20250004", 0)]
    assert first[1].status == "timeout" and no_containers_left()
    second = grade_all(sorted(batch.iterdir()), tiny, runner, tmp_path / "b", dataset=None, student_id=None, console=quiet, jobs=2)
    assert [r.scores_only() for r in second] == [r.scores_only() for r in first]
