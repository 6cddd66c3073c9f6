"""The Docker backend against hostile submissions. Needs a running daemon and the grading
image (`grader image build`); without them these tests are skipped with the reason shown."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from grader.course import catalog
from grader.sandbox import docker
from grader.sandbox.image import image_tag
from grader.steps.pipeline import grade_submission

from conftest import REPO, allow_sleep, cpu_hogs, student_files, write_zip

pytestmark = pytest.mark.docker

if not docker.daemon_answers():
    pytest.skip("no Docker daemon answers: Docker sandbox tests not run (.ci/run starts dockerd)",
                allow_module_level=True)
if not docker.image_present(image_tag()):
    pytest.skip(f"grading image {image_tag()} not built: run `grader image build`", allow_module_level=True)


@pytest.fixture(scope="module")
def sandbox():
    return docker.DockerSandbox(image_tag())


@pytest.fixture
def hostile(tmp_path, tiny_root, sandbox):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 60")
                    .replace("memory_mb: 1024", "memory_mb: 300")
                    .replace("cpu_seconds: 20", "cpu_seconds: 3"))
    assignment = catalog.load("tiny", tiny_root)

    def grade(code: str):
        files = student_files(assignment)
        files["answer.py"] = code + "\n" + files["answer.py"]
        report = grade_submission(write_zip(tmp_path / "20250001_x.zip", files), assignment, sandbox, tmp_path / "out")
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


def test_stdout_and_stderr_reach_the_log_in_the_order_written(tmp_path, sandbox):
    """A warning on stderr never lands inside a Summary line: both streams are one pipe in the container."""
    from grader.course.spec import SandboxLimits
    from grader.sandbox import RunRequest

    code = ("import sys\nfor i in range(300):\n"
            "    sys.stdout.write(f'out {i} '); sys.stdout.write('end\\n'); sys.stderr.write(f'err {i}\\n')\n")
    (tmp_path / "step.py").write_text(code)
    request = RunRequest(argv=["python3", "-u", "step.py"], workspace=tmp_path, log_path=tmp_path / "log.txt",
                         limits=SandboxLimits(wall_seconds=60, memory_mb=300))
    result = sandbox.run(request)
    expected = "".join(f"out {i} end\nerr {i}\n" for i in range(300))
    assert result.ok and (tmp_path / "log.txt").read_text() == expected


def test_infinite_loop_times_out(hostile):
    report, log = hostile("while True:\n    pass")
    assert report.status == "timeout" and report.score == 0 and "[grader] stopped at the CPU-time limit of 3 s" in log
    assert report.runs[0].limit == "cpu" and report.runs[0].attempts == 1
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


FORGER = '''
import atexit, os
FAKE = "Summary: {'Accuracy_testmean': 0.99, 'Accuracy_teststd': 0.0}"
print(FAKE)
atexit.register(print, FAKE)
# rewrite the evaluation script the next step runs, and poison the data cache
open("evaluate.py", "w").write("print(" + repr(FAKE) + ")")
os.makedirs("weights", exist_ok=True)
'''


def test_forged_summaries_and_rewritten_evaluation_do_not_score(tmp_path, sandbox):
    COLORED = catalog.load("colored_mnist")
    source = (COLORED.skeleton_dir / "model.py").read_text()
    files = {"model.py": FORGER + source}
    report = grade_submission(write_zip(tmp_path / "20260001_forger.zip", files), COLORED, sandbox, tmp_path / "out")
    points = {i.id: i.points for i in report.items}
    assert report.status == "graded" and report.score == 0, points
    dro = next(i for i in report.items if i.id == "groupdro_accuracy")
    # the training step failed, so the trusted evaluation has no weights to score
    assert dro.value is None and "skipped:" in dro.message
    train_log = (tmp_path / "out" / "20260001_forger" / "logs" / "groupDRO_train_log.txt").read_text()
    assert "0.99" in train_log  # it did print the fake line, where it is not scored


def test_batch_of_hostile_submissions_keeps_going_and_repeats_exactly(tmp_path, tiny_root, sandbox):
    import os

    from rich.console import Console

    from grader.commands.grade import grade_all

    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    # The CPU limit stops the loop (3 s of CPU); the wall clock is a backstop well behind it.
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 15")
                    .replace("cpu_seconds: 20", "cpu_seconds: 3"))
    tiny = catalog.load("tiny", tiny_root)
    batch = tmp_path / "batch"
    batch.mkdir()
    good = student_files(tiny)
    write_zip(batch / "20250001_good.zip", good)
    write_zip(batch / "20250002_loop.zip", {"answer.py": "while True:\n    pass\n"})
    write_zip(batch / "20250003_hog.zip", {"answer.py": "hog = b'x' * 3_000_000_000\n" + good["answer.py"]})
    write_zip(batch / "20250004_bomb.zip", {"answer.py": "import os\nwhile True:\n    try:\n        os.fork()\n"
                                                         "    except OSError:\n        pass\n"})
    quiet = Console(file=open(os.devnull, "w"))
    first = grade_all(sorted(batch.iterdir()), tiny, sandbox, tmp_path / "a", dataset=None, student_id=None,
                      console=quiet, jobs=2)
    assert ([(r.student_id, r.score) for r in first]
            == [("20250001", 16), ("20250002", 0), ("20250003", 0), ("20250004", 0)])
    assert first[1].status == "timeout" and no_containers_left()
    second = grade_all(sorted(batch.iterdir()), tiny, sandbox, tmp_path / "b", dataset=None, student_id=None,
                       console=quiet, jobs=2)
    assert [r.scores_only() for r in second] == [r.scores_only() for r in first]


# ----------------------------------------------------------------------------- ownership and cancelling

def run_labels() -> list[dict]:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={docker.LABEL}"], capture_output=True,
                         text=True).stdout.split()
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", "--format", "{{json .Config.Labels}}", *ids], capture_output=True,
                         text=True)
    import json

    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_containers_carry_their_owner_and_go_away_by_themselves(tmp_path, sandbox):
    import os
    import time

    from grader.course.spec import SandboxLimits
    from grader.sandbox import RunRequest

    seen = []
    req = RunRequest(argv=["python3", "-c", "import time; time.sleep(3)"], workspace=tmp_path,
                     log_path=tmp_path / "log.txt", limits=SandboxLimits(wall_seconds=30, memory_mb=300))
    worker = threading.Thread(target=lambda: seen.append(sandbox.run(req)))
    worker.start()
    deadline = time.monotonic() + 20
    mine = []
    while not mine and time.monotonic() < deadline:
        mine = [labels for labels in run_labels() if labels.get(docker.RUN_LABEL) == sandbox.run_id]
        time.sleep(0.2)
    worker.join(timeout=30)
    assert mine and mine[0][docker.PID_LABEL] == str(os.getpid()) and mine[0][docker.HOST_LABEL] == socket.gethostname()
    assert seen and seen[0].ok
    argv = sandbox.docker_argv(req, "x")
    assert "--rm" in argv and argv[argv.index("--log-driver") + 1] == "none"
    assert not [labels for labels in run_labels() if labels.get(docker.RUN_LABEL) == sandbox.run_id]


def test_start_up_clean_up_removes_only_containers_whose_owner_is_gone(sandbox):
    import os

    sleeper = subprocess.Popen(["sleep", "60"])  # a live "grader" on this host
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    started = []
    try:
        for owner in (sleeper.pid, dead.pid):
            labels = ["--label", docker.LABEL, "--label", f"{docker.HOST_LABEL}={host}",
                      "--label", f"{docker.PID_LABEL}={owner}",
                      "--label", f"{docker.START_LABEL}={docker._process_start(owner) or 'gone'}"]
            out = subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", *labels, sandbox.image,
                                  "sleep", "60"], capture_output=True, text=True)
            started.append(out.stdout.strip())
        other_host = subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", "--label", docker.LABEL,
                                     "--label", f"{docker.HOST_LABEL}=another-host",
                                     "--label", f"{docker.PID_LABEL}={dead.pid}",
                                     sandbox.image, "sleep", "60"], capture_output=True, text=True).stdout.strip()
        started.append(other_host)
        removed = docker.remove_stale_containers()
        assert [r[:12] for r in removed] == [started[1][:12]]
        alive = subprocess.run(["docker", "ps", "-q", "--no-trunc"], capture_output=True, text=True).stdout.split()
        assert started[0] in alive and other_host in alive and started[1] not in alive
    finally:
        sleeper.kill()
        subprocess.run(["docker", "rm", "-f", *started], capture_output=True)
        assert os.path.exists("/proc/1")


def test_cancel_all_stops_this_runs_containers_in_seconds_and_refuses_new_ones(tmp_path):
    import time

    from grader.course.spec import SandboxLimits
    from grader.sandbox import RunRequest

    first, second = docker.DockerSandbox(image_tag()), docker.DockerSandbox(image_tag())
    results = {}

    def run(name, sandbox):
        req = RunRequest(argv=["python3", "-c", "import time; time.sleep(60)"], workspace=tmp_path / name,
                         log_path=tmp_path / name / "log.txt", limits=SandboxLimits(wall_seconds=120, memory_mb=300))
        (tmp_path / name).mkdir()
        results[name] = sandbox.run(req)

    threads = [threading.Thread(target=run, args=("a", first)), threading.Thread(target=run, args=("b", second))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while (time.monotonic() < deadline
           and len({labels.get(docker.RUN_LABEL) for labels in run_labels()} & {first.run_id, second.run_id}) < 2):
        time.sleep(0.2)
    start = time.monotonic()
    first.cancel_all()
    threads[0].join(timeout=15)
    assert results["a"].error == "cancelled: the grader is stopping" and time.monotonic() - start < 10
    assert not [labels for labels in run_labels() if labels.get(docker.RUN_LABEL) == first.run_id]
    assert [labels for labels in run_labels() if labels.get(docker.RUN_LABEL) == second.run_id], \
        "the other grader's container was touched"
    later = first.run(RunRequest(argv=["python3", "-c", "print(1)"], workspace=tmp_path / "a",
                                 log_path=tmp_path / "a" / "l.txt", limits=SandboxLimits()))
    assert later.error == "cancelled: the grader is stopping"
    second.cancel_all()
    threads[1].join(timeout=15)


def test_a_container_docker_refuses_to_start_is_an_error(tmp_path, tiny_root, sandbox):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("memory_mb: 1024", "memory_mb: 1024\n  cpus: 512"))
    assignment = catalog.load("tiny", tiny_root)
    report = grade_submission(write_zip(tmp_path / "20250001_x.zip", student_files(assignment)), assignment, sandbox,
                              tmp_path / "out")
    assert report.status == "error" and report.message.startswith("main: the container did not start"), report.message


def test_two_graders_through_docker_a_sigterm_stops_one_and_spares_the_other(tmp_path, tiny_root):
    """Two `grader grade` processes share the daemon; SIGTERM to one leaves none of its
    containers within 10 s, and the other grader's container keeps running and its batch ends
    with every report."""
    import json
    import os
    import signal
    import sys
    import time


    good = allow_sleep(tiny_root)
    batches = {name: tmp_path / name for name in ("stopped", "spared")}
    for folder in batches.values():
        folder.mkdir()
    write_zip(batches["stopped"] / "20250001_slow.zip", dict(good, SLEEP="60"))
    write_zip(batches["spared"] / "20250002_slow.zip", dict(good, SLEEP="20"))
    write_zip(batches["spared"] / "20250003_fast.zip", good)
    procs = {name: subprocess.Popen([sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(folder),
                                     "--out", str(tmp_path / f"out_{name}"), "--backend", "docker", "-j", "1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env={**os.environ, "COLUMNS": "200"})
             for name, folder in batches.items()}

    def containers_of(proc) -> list[dict]:
        return [labels for labels in run_labels() if labels.get(docker.PID_LABEL) == str(proc.pid)]

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(containers_of(p) for p in procs.values()):
            time.sleep(0.3)
        assert all(containers_of(p) for p in procs.values()), "both graders should have a container running"
        sent = time.monotonic()
        procs["stopped"].send_signal(signal.SIGTERM)
        while time.monotonic() - sent < 10 and containers_of(procs["stopped"]):
            time.sleep(0.2)
        assert not containers_of(procs["stopped"]), "a stopped grader's container outlived it by 10 s"
        assert containers_of(procs["spared"]), "the other grader's container was touched"
        output, _ = procs["stopped"].communicate(timeout=30)
        assert procs["stopped"].returncode == 128 + signal.SIGTERM and "Traceback" not in output, output
        output, _ = procs["spared"].communicate(timeout=180)
        assert procs["spared"].returncode == 0, output
        for stem in ("20250002_slow", "20250003_fast"):
            report = json.loads((tmp_path / "out_spared" / stem / "report.json").read_text())
            assert (report["status"], report["score"]) == ("graded", 16), report.get("message")
    finally:
        for proc in procs.values():
            proc.kill()


def test_containers_run_in_the_graders_cgroup_whose_cpu_weight_holds(tmp_path, sandbox):
    """Under Docker's own parent every container together weighs one host process (cgroup v1):
    local processes beside a grading starve it. The grader's parent cgroup carries a weight far
    above a process's, so a container gets its --cpus quota first."""
    from grader.course.spec import SandboxLimits
    from grader.sandbox.base import RunRequest

    result = sandbox.run(RunRequest(argv=["cat", "/proc/self/cgroup"], workspace=tmp_path,
                                    log_path=tmp_path / "log.txt", limits=SandboxLimits()))
    assert result.ok, (tmp_path / "log.txt").read_text()
    assert sandbox.parent == "/" + docker.SANDBOX_PARENT
    assert f"/{docker.SANDBOX_PARENT}/" in (tmp_path / "log.txt").read_text()
    v1 = docker.CGROUP_ROOTS[0] / "cpu" / docker.SANDBOX_PARENT / "cpu.shares"
    v2 = docker.CGROUP_ROOTS[0] / docker.SANDBOX_PARENT / "cpu.weight"
    weight = v1 if v1.is_file() else v2
    assert int(weight.read_text()) in (docker.SANDBOX_SHARES_V1, docker.SANDBOX_WEIGHT_V2)


def test_two_graders_share_one_memory_budget(tmp_path, monkeypatch):
    """Two graders whose containers' limits together exceed the host's budget: the second waits
    for the first to finish, both finish, and the containers never held more than the budget."""
    from grader.course.spec import SandboxLimits
    from grader.sandbox import host_memory
    from grader.sandbox.base import RunRequest

    monkeypatch.setenv(host_memory.BUDGET_ENV, "1000")
    monkeypatch.setenv(host_memory.LEDGER_ENV, str(tmp_path / "ledger"))
    graders = [docker.DockerSandbox(image_tag()), docker.DockerSandbox(image_tag())]
    limits = SandboxLimits(memory_mb=700)
    results, peaks = {}, []

    def grade(n: int) -> None:
        (tmp_path / str(n)).mkdir()
        results[n] = graders[n].run(RunRequest(argv=["python3", "-c", "import time; time.sleep(2)"],
                                               workspace=tmp_path / str(n), log_path=tmp_path / str(n) / "log.txt",
                                               limits=limits))

    threads = [threading.Thread(target=grade, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peaks.append(host_memory.in_use_mb(tmp_path / "ledger"))
        threading.Event().wait(0.1)
    assert all(results[n].ok for n in range(2)), results
    assert max(peaks) == 700  # one container's limit at a time: the second waited
    assert host_memory.in_use_mb(tmp_path / "ledger") == 0


@pytest.mark.slow
def test_a_docker_grading_beside_local_hogs_gets_the_same_item_scores(tmp_path, tiny_root, sandbox):
    """Issue 23: containers run under the grader's own cgroup, whose CPU weight holds against the
    host's processes, so 8 busy local processes per core slow a Docker grading down but never
    change it."""
    tiny = catalog.load("tiny", tiny_root)
    zip_path = write_zip(tmp_path / "20250042_reference.zip", student_files(tiny))
    idle = grade_submission(zip_path, tiny, sandbox, tmp_path / "idle")
    with cpu_hogs(per_core=8):
        busy = grade_submission(zip_path, tiny, sandbox, tmp_path / "busy")
    assert idle.status == busy.status == "graded", (busy.status, busy.message)
    assert {i.id: (i.status, i.points, i.value) for i in busy.items} == {
        i.id: (i.status, i.points, i.value) for i in idle.items}
    assert all(run.attempts == 1 for run in busy.runs)
