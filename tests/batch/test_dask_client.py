"""Grading on a Dask cluster: a real `dask scheduler` and `dask worker` processes on 127.0.0.1
(random free ports, stopped at the end of each test) grade the tiny assignment with the local
backend. The tests start everything they need; CI starts nothing for them."""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dask
import pytest

from grader.batch import dask_client
from grader.batch.dask_client import check_address, make_certs, safe_relative, tls_arguments, write_report_files
from grader.batch.dask_worker import QUIET_WORKER_CONFIG, CourseMismatch, course_fingerprint, grade_task
from grader.batch.executors import BatchContext, Job
from grader.course import catalog
from grader.errors import GraderError, RejectedSubmission
from grader.reports.report import load_report
from grader.steps.lms import discover
from grader.steps.roster import read_roster

from conftest import allow_sleep, run_cli, student_files, write_zip

pytestmark = pytest.mark.cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    certs: Path | None = None

    def client(self):
        from distributed import Client

        from grader.batch.dask_client import security_for

        security = security_for(self.certs) if self.certs else None
        return Client(self.address, security=security, timeout=30)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def dask_cluster(worker_roots: list[Path], logs: Path, certs: Path | None = None):
    """`dask scheduler` and one `dask worker` (no nanny: a SIGKILL ends it for good) per course root."""
    port = free_port()
    protocol = "tls" if certs else "tcp"
    address = f"{protocol}://127.0.0.1:{port}"
    env = {**os.environ, "GRADER_BACKEND": "local"}
    logs.mkdir(parents=True, exist_ok=True)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--protocol", protocol, "--no-dashboard", *(tls_arguments(certs, "scheduler") if certs else [])],
        stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT, env=env)
    cluster = Cluster(address, scheduler, certs=certs)
    try:
        for n, root in enumerate(worker_roots):
            cluster.workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--preload", "grader.batch.dask_worker", "--name", f"w{n}",
                 *(tls_arguments(certs, "worker") if certs else [])],
                stdout=open(logs / f"worker{n}.log", "w"), stderr=subprocess.STDOUT,
                env={**env, catalog.ROOT_ENV: str(root)}))
        if worker_roots:
            client = cluster.client()
            try:
                client.wait_for_workers(len(worker_roots), timeout=60)
            finally:
                client.close()
        yield cluster
    finally:
        _stop(cluster.workers + [scheduler])




def grade(tiny_root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_cli("--root", str(tiny_root), "grade", *args, timeout=timeout)


def scores(out: Path) -> dict[str, dict]:
    return {p.parent.name: load_report(p).scores_only() for p in out.glob("*/report.json")}


def test_a_cluster_grades_as_a_local_run_does_and_shares_its_cache(tmp_path, tiny_root, tiny):
    batch = tmp_path / "batch"
    batch.mkdir()
    good = student_files(tiny)
    write_zip(batch / "20250001_good.zip", good, folder="20250001_good")
    write_zip(batch / "20250002_skeleton.zip", student_files(tiny, "skeleton"))
    wrong = dict(good, **{"answer.py": good["answer.py"].replace("return sum(values) / len(values)",
                                                                  "return values[0]")})
    write_zip(batch / "20250003_wrong.zip", wrong)
    (batch / "20250004_broken.zip").write_bytes(b"not a zip")
    (batch / "20250005_folder").mkdir()  # a student's folder travels zipped, after intake checked it here
    (batch / "20250005_folder" / "answer.py").write_text(good["answer.py"])
    for path in batch.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))  # handed in long before the grading
    local = grade(tiny_root, str(batch), "--out", str(tmp_path / "local"))
    with dask_cluster([tiny_root, tiny_root], tmp_path / "logs") as cluster:
        remote = grade(tiny_root, str(batch), "--out", str(tmp_path / "remote"), "--cluster", cluster.address)
        assert remote.returncode == local.returncode == 2, remote.stdout + remote.stderr  # the broken zip
        assert "Traceback" not in remote.stdout + remote.stderr
        assert f"Dask cluster {cluster.address}: 2 workers, 2 threads, local backend" in remote.stdout
        assert scores(tmp_path / "remote") == scores(tmp_path / "local")
        assert {s["score"] for s in scores(tmp_path / "remote").values()} == {16, 0, 9}
        report = load_report(tmp_path / "remote" / "20250001_good" / "report.json")
        assert report.source == str(batch / "20250001_good.zip") and report.backend == "local"
        times = {run: {p.parent.name: load_report(p).origin.submitted_at
                       for p in (tmp_path / run).glob("*/report.json")} for run in ("local", "remote")}
        assert times["remote"] == times["local"]  # the files' times, as the late policy reads them
        assert times["remote"]["20250001_good"] == "2023-11-14T22:13:20+00:00"
        assert (tmp_path / "remote" / "20250001_good" / "logs" / "result_log.txt").is_file()
        assert (tmp_path / "remote" / "20250001_good" / "results.json").is_file()
        rows = {r["student_id"]: r["status"] for r in csv.DictReader(open(tmp_path / "remote" / "grades.csv"))}
        assert rows == {"20250001": "graded", "20250002": "graded", "20250003": "graded", "20250004": "rejected",
                        "20250005": "graded"}
        # a local run's reports are the cluster's cache, and the other way round
        again = grade(tiny_root, str(batch), "--out", str(tmp_path / "local"), "--cluster", cluster.address)
        assert "0 graded now, 5 from earlier runs" in again.stdout, again.stdout
    back = grade(tiny_root, str(batch), "--out", str(tmp_path / "remote"))
    assert "0 graded now, 5 from earlier runs" in back.stdout


def test_a_worker_killed_mid_batch_loses_no_report(tmp_path, tiny_root):
    good = allow_sleep(tiny_root)
    batch = tmp_path / "batch"
    batch.mkdir()
    for n in range(1, 5):
        write_zip(batch / f"2025000{n}_s.zip", dict(good, SLEEP="4"))
    out = tmp_path / "out"
    with dask_cluster([tiny_root, tiny_root], tmp_path / "logs") as cluster:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(batch), "--out", str(out),
             "--cluster", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "GRADER_BACKEND": "local", "COLUMNS": "200"})
        client = cluster.client()
        try:
            deadline = time.monotonic() + 60
            busy: list[str] = []
            while not busy and time.monotonic() < deadline:
                time.sleep(0.2)
                busy = [w for w, keys in client.processing().items() if keys]
            assert busy, "no task started"
            time.sleep(1.5)  # inside the 4 s experiment
            name = client.scheduler_info()["workers"][busy[0]]["name"]  # w0 or w1, as started
            pid = cluster.workers[int(name[1:])].pid
        finally:
            client.close()
        os.kill(pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert [load_report(out / f"2025000{n}_s" / "report.json").score for n in range(1, 5)] == [16] * 4


def test_a_submission_that_kills_its_worker_twice_is_crashed_and_the_batch_goes_on(tmp_path, tiny_root, tiny):
    batch = tmp_path / "batch"
    batch.mkdir()
    killer = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"  # its parent is the worker process
    write_zip(batch / "20250001_killer.zip", dict(student_files(tiny), **{"answer.py": killer}))
    write_zip(batch / "20250002_good.zip", student_files(tiny))
    result = grade(tiny_root, str(batch), "--out", str(tmp_path / "out"), "--cluster", "local:2")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {r["student_id"]: (r["status"], r["score"]) for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert rows == {"20250001": ("crashed", "0"), "20250002": ("graded", "16")}
    crashed = load_report(tmp_path / "out" / "20250001_killer" / "report.json")
    assert "the workers grading it died 2 times" in crashed.message


def test_grader_worker_checks_the_machine_and_joins_the_scheduler(tmp_path, tiny_root, tiny):
    write_zip(tmp_path / "20250001_good.zip", student_files(tiny))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with dask_cluster([], tmp_path / "logs") as cluster:
        worker = subprocess.Popen(
            [sys.executable, "-m", "grader", "--root", str(tiny_root), "worker", cluster.address, "--backend", "local",
             "--scratch", str(scratch)],
            stdout=open(tmp_path / "logs" / "grader-worker.log", "w"), stderr=subprocess.STDOUT)
        try:
            client = cluster.client()
            try:
                client.wait_for_workers(1, timeout=60)
                settings = client.run(lambda: {key: dask.config.get(key) for key in QUIET_WORKER_CONFIG})
                temp = client.run(tempfile.gettempdir)
            finally:
                client.close()
            result = grade(tiny_root, str(tmp_path / "20250001_good.zip"), "--out", str(tmp_path / "out"),
                           "--cluster", cluster.address)
        finally:
            _stop([worker])
    assert result.returncode == 0, result.stdout + result.stderr
    assert load_report(tmp_path / "out" / "20250001_good" / "report.json").score == 16
    log = (tmp_path / "logs" / "grader-worker.log").read_text()
    fingerprint = course_fingerprint(tiny_root, "local")
    assert f"ok   fingerprint: {fingerprint} (local backend)" in log
    assert f"fingerprint {fingerprint} (local)" in log  # said again by the preload inside the worker
    assert list(settings.values()) == [QUIET_WORKER_CONFIG]  # Dask's profiler and monitors quieted
    assert list(temp.values()) == [str(scratch.resolve())]
    assert f"ok scratch: {scratch.resolve()} (" in " ".join(log.split())  # the console wraps long lines


def test_grader_worker_refuses_a_scratch_it_cannot_write_in(tmp_path, tiny_root):
    result = subprocess.run([sys.executable, "-m", "grader", "--root", str(tiny_root), "worker", "tcp://127.0.0.1:1",
                             "--backend", "local", "--check", "--scratch", str(tmp_path / "missing")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    said = " ".join(result.stdout.split())  # the console wraps long lines
    assert f"FAIL scratch: {tmp_path / 'missing'}: not a folder this user can write in" in said


@pytest.mark.parametrize("started_with, expected", [(None, 2.0), ("inf", float("inf")), ("3.0", 3.0)])
def test_connecting_raises_the_schedulers_worker_saturation(tmp_path, monkeypatch, started_with, expected):
    """Each worker holds the next submission for each of its threads (WORKER_SATURATION), unless the
    scheduler was started to hold more."""
    from grader.batch.dask_client import connect

    if started_with:
        monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION", started_with)
    with dask_cluster([], tmp_path / "logs") as cluster:
        client, _ = connect(cluster.address, certs=None, insecure=False)
        try:
            saturation = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)
            failures = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        finally:
            client.close()
    assert saturation == expected and failures == 1


def test_the_workers_check_readies_the_scheduler_too(tmp_path, tiny_root):
    """The scheduler imports the task module when the client checks the workers, not under the
    batch's first tasks."""
    from grader.batch.dask_client import check_workers

    with dask_cluster([tiny_root], tmp_path / "logs") as cluster:
        client = cluster.client()
        try:
            check_workers(client, course_fingerprint(tiny_root, "local"), "local")
            imported = client.run_on_scheduler(lambda: "grader.batch.dask_worker" in sys.modules)
        finally:
            client.close()
    assert imported


def test_local_workers_start_with_the_quiet_settings(monkeypatch):
    from grader.batch.dask_client import connect
    from grader.batch.dask_worker import WORKERS_ENV

    monkeypatch.setenv(WORKERS_ENV, "1")  # connect sets it for the local workers; restored after the test
    client, cluster = connect("local:1", certs=None, insecure=False)
    try:
        settings = client.run(lambda: {key: dask.config.get(key) for key in QUIET_WORKER_CONFIG})
        saturation = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)
    finally:
        client.close()
        cluster.close()
    assert list(settings.values()) == [QUIET_WORKER_CONFIG] and saturation == 2.0


def test_the_quiet_worker_settings_reach_dask_through_the_environment():
    import dask.config

    from grader.batch.dask_worker import quiet_worker_env

    with dask.config.set(dask.config.collect_env(quiet_worker_env())):
        assert {key: dask.config.get(key) for key in QUIET_WORKER_CONFIG} == QUIET_WORKER_CONFIG


def test_a_worker_with_another_course_refuses_in_one_line(tmp_path, tiny_root, tiny):
    other = tmp_path / "other_course"
    shutil.copytree(tiny_root, other)
    rubric = other / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text() + "\n# edited on this worker only\n")
    write_zip(tmp_path / "20250001_good.zip", student_files(tiny))
    with dask_cluster([other], tmp_path / "logs") as cluster:
        result = grade(tiny_root, str(tmp_path / "20250001_good.zip"), "--out", str(tmp_path / "out"),
                       "--cluster", cluster.address)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: worker tcp://127.0.0.1:"), result.stderr
    assert f"its course {other} has fingerprint" in lines[0]
    assert not (tmp_path / "out" / "20250001_good").exists()


def test_grade_task_refuses_before_grading_when_the_fingerprint_differs(tmp_path, tiny_root, monkeypatch):
    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    task = {"name": "20250001_x.zip", "data": b"", "source": "x", "assignment": "tiny", "dataset": None,
            "student_id": None, "key": "k", "backend": "local", "fingerprint": "0" * 16}
    with pytest.raises(CourseMismatch, match="refuses: its course .* has fingerprint"):
        grade_task(task)
    assert course_fingerprint(tiny_root, "local") != course_fingerprint(tiny_root, "docker")


def test_a_roster_identified_moodle_folder_of_loose_files_travels_and_is_graded(tmp_path, tiny_root, tiny,
                                                                                 monkeypatch):
    """Its folder name carries no studentID_name: the client's intake check takes the roster's student
    ID, as the local executor's pipeline does, and a worker grades what it was sent."""
    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text("Identifier,Full name,Email address,Status\n"
                         "Participant 501,Ana Lima,20250011@x.edu,Submitted\n")
    download = tmp_path / "download"
    loose = download / "Ana Lima_501_assignsubmission_file_"
    loose.mkdir(parents=True)
    for rel, text in student_files(tiny).items():
        (loose / rel).write_text(text)
    stranger = download / "Omar Haddad_503_assignsubmission_file_"
    stranger.mkdir()
    (stranger / "answer.py").write_text("")
    ana, omar = discover([download], "moodle", None, read_roster(worksheet))
    ctx = BatchContext(tiny, None, tmp_path / "staging")
    job = Job(ana.source, ana.stem, "k", None, ana)
    name, data = dask_client._payload_bytes(job, ctx)
    assert name == f"{loose.name}.zip"
    task = {"name": name, "data": data, "source": str(loose), "assignment": "tiny", "dataset": None,
            "student_id": None, "key": "k", "backend": "local", "identity": ana,
            "fingerprint": course_fingerprint(tiny_root, "local")}
    result = grade_task(task)
    report = json.loads(result["report"])
    assert (report["status"], report["student_id"], report["score"]) == ("graded", "20250011", 16)
    # Not in the roster: rejected with the reason the local pipeline gives.
    with pytest.raises(RejectedSubmission, match="participant 503 is not in the roster worksheet.csv"):
        dask_client._payload_bytes(Job(omar.source, omar.stem, "k", None, omar), ctx)


def test_a_lost_scheduler_stops_the_run_and_a_rerun_resumes(tmp_path, tiny_root):
    good = allow_sleep(tiny_root)
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_fast.zip", good)
    for n in (2, 3):
        write_zip(batch / f"2025000{n}_slow.zip", dict(good, SLEEP="30"))
    out = tmp_path / "out"
    with dask_cluster([tiny_root], tmp_path / "logs") as cluster:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(batch), "--out", str(out),
             "--cluster", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "GRADER_BACKEND": "local", "COLUMNS": "200"})
        deadline = time.monotonic() + 60
        while not (out / "20250001_fast" / "report.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        cluster.scheduler.kill()
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stdout + stderr
    assert "lost the Dask scheduler" in stderr and "Traceback" not in stdout + stderr
    for n in (2, 3):
        write_zip(batch / f"2025000{n}_slow.zip", dict(good, SLEEP="0"))
    resumed = grade(tiny_root, str(batch), "--out", str(out))
    assert resumed.returncode == 0 and "2 graded now, 1 from earlier runs" in resumed.stdout, resumed.stdout


def test_tls_cluster_with_course_certificates(tmp_path, tiny_root, tiny):
    certs = tmp_path / "certs"
    make_certs(certs)
    assert oct((certs / "worker-key.pem").stat().st_mode & 0o777) == "0o600"
    write_zip(tmp_path / "20250001_good.zip", student_files(tiny))
    with dask_cluster([tiny_root], tmp_path / "logs", certs=certs) as cluster:
        assert cluster.address.startswith("tls://")
        result = grade(tiny_root, str(tmp_path / "20250001_good.zip"), "--out", str(tmp_path / "out"), "--cluster",
                       cluster.address, "--certs", str(certs))
        assert result.returncode == 0, result.stdout + result.stderr
        assert load_report(tmp_path / "out" / "20250001_good" / "report.json").score == 16
        without = run_cli("--root", str(tiny_root), "grade", str(tmp_path / "20250001_good.zip"), "--cluster",
                          cluster.address, env={"GRADER_CLUSTER_CERTS": ""})
        assert without.returncode == 2 and "tls:// needs certificates" in without.stderr


def test_plain_tcp_only_on_loopback_unless_insecure():
    assert check_address("tcp://127.0.0.1:8786", insecure=False) == "tcp"
    assert check_address("tcp://localhost:8786", insecure=False) == "tcp"
    assert check_address("tls://10.0.0.5:8786", insecure=False) == "tls"
    assert check_address("local:3", insecure=False) == "local"
    with pytest.raises(GraderError, match="plain tcp:// is refused beyond this machine"):
        check_address("tcp://10.0.0.5:8786", insecure=False)
    warned = []
    assert check_address("tcp://10.0.0.5:8786", insecure=True, warn=warned.append) == "tcp"
    assert "anyone who can reach the scheduler can run any code on every worker" in warned[0]
    for bad in ("local:0", "http://x:1", "10.0.0.5:8786"):
        with pytest.raises(GraderError, match="--cluster"):
            check_address(bad, insecure=False)


def test_insecure_is_said_on_the_command_line(tmp_path, tiny_root):
    result = run_cli("--root", str(tiny_root), "grade", str(tmp_path), "--cluster", "tcp://192.0.2.1:8786")
    assert result.returncode == 2 and "plain tcp:// is refused" in result.stderr


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "logs/../../x", "", "a\\b", "a\x00b"])
def test_report_files_from_a_worker_stay_inside_the_report_folder(tmp_path, name):
    with pytest.raises(GraderError, match="unsafe name"):
        safe_relative(name)
    with pytest.raises(GraderError):
        write_report_files({"logs/log.txt": b"", name: b"x"}, tmp_path / "r")
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("name", ["report.json", "report.html"])
def test_a_worker_never_writes_the_report_itself(tmp_path, name):
    """report.json and the page are written by the client from the report it validated, never as bytes."""
    with pytest.raises(GraderError, match="beside the report"):
        write_report_files({name: b"{}"}, tmp_path / "r")
    assert not (tmp_path / "r" / name).exists()


def test_cluster_commands_have_help():
    for args in (["worker", "--help"], ["cluster", "certs", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0 and "Usage:" in result.stdout
