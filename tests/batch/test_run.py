"""grader.batch.run: discovery, the resume cache, --retry-failed, exit codes per status, and a batch
stopped by a signal (a real `grader grade` process) that a re-run resumes."""

import csv
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from grader.batch.cache import cached_report
from grader.batch.discovery import expand_sources, latest_per_student
from grader.batch.executors import LocalExecutor
from grader.batch.progress import estimate_remaining, inert
from grader.batch.run import exit_code, finish_reports, grade_batch
from grader.course import catalog
from grader.errors import GraderError
from grader.reports.report import Report, load_report, write_gradebook, write_report
from grader.steps.naming import STAGING, report_folder_name

from conftest import allow_sleep, student_files, write_zip


@pytest.fixture
def quiet_console():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"), width=200)




def test_a_batch_folder_yields_zips_and_student_folders_only(tmp_path, tiny):
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250002_b.zip", student_files(tiny))
    (batch / "20250001_a").mkdir()
    (batch / "20250001_a" / "answer.py").write_text(student_files(tiny)["answer.py"])
    (batch / "notes.txt").write_text("not a submission")
    (batch / "misc").mkdir()
    assert [p.name for p in expand_sources([batch], tiny)] == ["20250001_a", "20250002_b.zip"]
    # a folder holding the editable files is one submission, not a batch
    assert expand_sources([batch / "20250001_a"], tiny) == [batch / "20250001_a"]
    with pytest.raises(GraderError, match="no such file or folder"):
        expand_sources([tmp_path / "missing"], tiny)


def test_latest_of_one_student_wins_and_the_rest_are_named(tmp_path):
    old, new, other = (tmp_path / n for n in ("20250001_a.zip", "20250001_b.zip", "x.zip"))
    for path in (old, new, other):
        path.write_bytes(b"")
    os.utime(old, (time.time() - 60, time.time() - 60))
    kept, notes = latest_per_student([old, new, other])
    assert kept == [new, other]
    assert notes[new] == ("student 20250001 submitted 2 times; graded the latest (20250001_b.zip), "
                          "ignored 20250001_a.zip")


def _report(status: str, key: str = "k") -> Report:
    return Report(source="s.zip", stem="s", assignment="tiny", status=status, cache_key=key)


@pytest.mark.parametrize("status", ["graded", "rejected", "timeout", "error", "crashed"])
def test_a_finished_report_is_reused_and_failed_ones_only_without_retry_failed(tmp_path, status):
    write_report(_report(status), tmp_path / "s")
    assert cached_report(tmp_path / "s", "k").status == status
    assert cached_report(tmp_path / "s", "other key") is None
    again = cached_report(tmp_path / "s", "k", retry_failed=True)
    assert (again is None) == (status in ("timeout", "error", "crashed"))


def test_an_unreadable_report_is_not_a_cache_hit(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "report.json").write_text('{"half": ')
    assert cached_report(tmp_path / "s", "k") is None


@pytest.mark.parametrize(("statuses", "code"), [
    (["graded", "graded"], 0),
    (["graded", "timeout"], 1),
    (["graded", "error"], 1),
    (["graded", "crashed"], 1),
    (["crashed", "rejected"], 2),
])
def test_exit_code_per_status(statuses, code):
    assert exit_code([_report(s) for s in statuses]) == code


def test_eta_is_mean_duration_times_remaining_over_parallelism():
    assert estimate_remaining([], 10, 2) is None
    assert estimate_remaining([10.0, 20.0], 8, 4) == pytest.approx(30.0)


def test_names_students_chose_reach_the_terminal_inert():
    # one helper everywhere (grader/inert.py): control characters shown as visible escapes
    assert inert("20250001_[blink]x[/blink]\x1b]0;title\x07") == "20250001_\\[blink]x\\[/blink]\\x1b]0;title\\x07"


def test_a_zip_named_dot_dot_never_writes_outside_out(tmp_path, tiny, sandbox, quiet_console):
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "...zip", student_files(tiny))
    out = tmp_path / "deep" / "out"
    result = grade_batch([batch / "...zip"], tiny, LocalExecutor(sandbox), out, dataset=None, student_id="20250001",
                         console=quiet_console)
    assert [r.status for r in result.reports] == ["rejected"]
    assert "gives no usable report folder name" in result.reports[0].message
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert list(out.iterdir()) == []


def test_retry_failed_regrades_only_timeout_error_and_crashed(tmp_path, tiny_root):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("wall_seconds: 30", "wall_seconds: 2")
                    .replace("cpu_seconds: 20", "cpu_seconds: 1"))
    tiny = catalog.load("tiny", tiny_root)
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_good.zip", student_files(tiny))
    write_zip(batch / "20250002_loop.zip", dict(student_files(tiny), **{"answer.py": "while True:\n    pass\n"}))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(batch), "--out", str(out)]
    env = {**os.environ, "GRADER_BACKEND": "local", "COLUMNS": "200"}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 1, first.stdout + first.stderr  # a timeout
    assert "--retry-failed grades only those again" in first.stdout
    stamps = {s: (out / s / "report.json").stat().st_mtime_ns for s in ("20250001_good", "20250002_loop")}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 1 and "0 graded now, 2 from earlier runs" in again.stdout
    assert {s: (out / s / "report.json").stat().st_mtime_ns for s in stamps} == stamps
    retried = subprocess.run(cmd + ["--retry-failed"], capture_output=True, text=True, timeout=120, env=env)
    assert retried.returncode == 1 and "1 graded now, 1 from earlier runs" in retried.stdout
    assert (out / "20250001_good" / "report.json").stat().st_mtime_ns == stamps["20250001_good"]
    assert (out / "20250002_loop" / "report.json").stat().st_mtime_ns != stamps["20250002_loop"]
    rows = {r["student_id"]: r["status"] for r in csv.DictReader(open(out / "grades.csv"))}
    assert rows == {"20250001": "graded", "20250002": "timeout"}
    both = subprocess.run(cmd + ["--retry-failed", "--force"], capture_output=True, text=True, timeout=60, env=env)
    assert both.returncode == 2 and "pick one" in both.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_batch_within_seconds_and_a_rerun_resumes(tmp_path, tiny_root, sig):
    good = allow_sleep(tiny_root)
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_fast.zip", good)
    write_zip(batch / "20250002_slow.zip", dict(good, SLEEP="60"))
    write_zip(batch / "20250003_slow.zip", dict(good, SLEEP="60"))
    write_zip(batch / "20250004_fast.zip", good)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "--root", str(tiny_root), "grade", str(batch), "--out", str(out), "-j", "2"]
    env = {**os.environ, "GRADER_BACKEND": "local"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 60
    sleepers: list[psutil.Process] = []
    fast_done = out / "20250001_fast" / "report.json"
    # the first fast one is in place and both slow ones are sleeping in their experiment
    while time.monotonic() < deadline and not (len(sleepers) == 2 and fast_done.exists()):
        time.sleep(0.2)
        sleepers = []
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "experiment.py" in child.cmdline():
                    sleepers.append(child)
            except psutil.NoSuchProcess:
                pass
    assert len(sleepers) == 2 and fast_done.exists()
    sent = time.monotonic()
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 128 + sig, output
    assert f"interrupted ({sig.name})" in output and "Traceback" not in output
    gone, alive = psutil.wait_procs(sleepers, timeout=5)
    assert not alive, "a submission's command outlived the stopped batch"
    # the two in flight were stopped, not finished: no report of theirs may pass for a result
    assert not (out / "20250002_slow" / "report.json").exists()
    assert not (out / "20250003_slow" / "report.json").exists()
    assert not (out / "20250004_fast").exists(), "a submission was started after the signal"
    assert not (out / STAGING).exists()
    stamp = (out / "20250001_fast" / "report.json").stat().st_mtime_ns
    for name in ("20250002_slow.zip", "20250003_slow.zip"):
        write_zip(batch / name, dict(good, SLEEP="0"))
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**env, "COLUMNS": "200"})
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "3 graded now, 1 from earlier runs" in resumed.stdout
    assert (out / "20250001_fast" / "report.json").stat().st_mtime_ns == stamp
    assert [load_report(out / s / "report.json").score for s in ("20250002_slow", "20250003_slow", "20250004_fast")] \
        == [16, 16, 16]


def test_a_zip_name_over_200_bytes_is_graded_and_the_batch_goes_on(tmp_path, tiny, sandbox, quiet_console):
    """The pipeline and the batch take a report's folder from one place (grader/steps/naming.py):
    a long name gets a shortened, hashed folder, and the batch commits that same folder."""
    batch = tmp_path / "batch"
    batch.mkdir()
    long_stem = "20250001_" + "a" * 200
    write_zip(batch / f"{long_stem}.zip", student_files(tiny))
    write_zip(batch / "20250002_bo.zip", student_files(tiny))
    out = tmp_path / "out"
    sources = sorted(batch.iterdir())
    result = grade_batch(sources, tiny, LocalExecutor(sandbox), out, dataset=None, student_id=None,
                         console=quiet_console)
    assert [r.status for r in result.reports] == ["graded", "graded"]
    folder = report_folder_name(long_stem)
    assert folder != long_stem and len(folder.encode()) <= 210
    assert (out / folder / "report.json").is_file() and (out / "20250002_bo" / "report.json").is_file()
    finish_reports(result.sources, result.reports, out, {}, tiny)
    assert (out / folder / "student.html").is_file()
    write_gradebook(result.reports, out)
    index = (out / "index.html").read_text()
    assert f'href="./{folder}/report.html"' in index and f'href="./{long_stem}/report.html"' not in index


def test_eta_counts_real_gradings_only():
    from grader.batch.progress import counts_for_eta
    from grader.reports.report import RunRecord

    run = RunRecord(name="main", command=["python"], exit_code=0, outcome="ok", seconds=30.0, output_truncated=False,
                    log="")
    graded = Report(source="1_a.zip", stem="1_a", assignment="tiny", status="graded", runs=[run],
                    timings={"total": 31.0})
    rejected = Report(source="2_b.zip", stem="2_b", assignment="tiny", status="rejected", timings={"total": 0.01})
    setup_error = Report(source="3_c.zip", stem="3_c", assignment="tiny", status="error", timings={"total": 0.02})
    assert counts_for_eta(graded) and not counts_for_eta(rejected) and not counts_for_eta(setup_error)
    durations = [r.timings["total"] for r in (graded, rejected, setup_error) if counts_for_eta(r)]
    assert estimate_remaining(durations, 10, 2) == pytest.approx(155.0)  # not dragged down by the instant ones


def test_a_batch_reads_the_assignment_once_for_all_its_cache_keys(tmp_path, tiny_root, monkeypatch):
    """Every key covers the assignment (spec, tests, rubric, skeleton): read once per batch, the
    keys are the same as read for each submission, and the next batch reads a changed rubric."""
    import grader.batch.cache as cache

    tiny = catalog.load("tiny", tiny_root)
    sources = [write_zip(tmp_path / f"2025000{n}_s.zip", dict(student_files(tiny), **{"answer.py": f"V = {n}\n"}))
               for n in range(1, 4)]
    roots = []
    real = cache.tree_digest
    monkeypatch.setattr(cache, "tree_digest", lambda digest, root: roots.append(root) or real(digest, root))
    part = cache.assignment_bytes(tiny)
    keys = [cache.cache_key(s, tiny, None, "local", assignment_part=part) for s in sources]
    assert roots.count(tiny.skeleton_dir) == 1 and roots.count(tiny.rubric_path) == 1
    assert keys == [cache.cache_key(s, tiny, None, "local") for s in sources] and len(set(keys)) == 3
    tiny.rubric_path.write_text(tiny.rubric_path.read_text() + "\n# changed\n")
    assert cache.cache_key(sources[0], tiny, None, "local", assignment_part=cache.assignment_bytes(tiny)) != keys[0]


def test_grade_batch_reads_the_assignment_once(tmp_path, tiny, sandbox, quiet_console, monkeypatch):
    import grader.batch.run as run

    batch = tmp_path / "batch"
    batch.mkdir()
    sources = [write_zip(batch / f"2025000{n}_s.zip", student_files(tiny)) for n in range(1, 4)]
    reads = []
    real = run.assignment_bytes
    monkeypatch.setattr(run, "assignment_bytes", lambda a: reads.append(a) or real(a))
    result = grade_batch(sources, tiny, LocalExecutor(sandbox, 2), tmp_path / "out", dataset=None, student_id=None,
                         console=quiet_console)
    assert [r.status for r in result.reports] == ["graded"] * 3 and len(reads) == 1


def test_another_course_secret_is_another_cache_key(tmp_path, tiny_root, monkeypatch):
    """A report graded under one course secret (its held-out draws) is not reused under another."""
    import grader.batch.cache as cache
    from grader.course import secret

    tiny = catalog.load("tiny", tiny_root)
    source = write_zip(tmp_path / "20250001_s.zip", student_files(tiny))
    monkeypatch.setattr(secret, "_KNOWN", {})
    for name, key in (("one", "1" * 64), ("two", "2" * 64)):
        (tmp_path / name).write_text(key)
    monkeypatch.setenv(secret.SECRET_ENV, str(tmp_path / "one"))
    first = cache.cache_key(source, tiny, None, "local")
    assert cache.cache_key(source, tiny, None, "local") == first
    monkeypatch.setenv(secret.SECRET_ENV, str(tmp_path / "two"))
    assert cache.cache_key(source, tiny, None, "local") != first


def test_a_batch_starts_grading_before_it_hashes_every_submission(tmp_path, tiny, sandbox, quiet_console,
                                                                   monkeypatch):
    """A submission's cache key is worked out when it is dispatched (or compared with a finished
    report), not all of them before the first is graded; a re-run still finds every report."""
    import grader.batch.run as run

    batch = tmp_path / "batch"
    batch.mkdir()
    sources = [write_zip(batch / f"2025000{n}_s.zip", student_files(tiny)) for n in range(1, 4)]
    hashed = []
    real = run.cache_key
    monkeypatch.setattr(run, "cache_key", lambda source, *a, **k: hashed.append(source) or real(source, *a, **k))

    class Recording(LocalExecutor):
        def start(self, jobs, ctx):
            self.hashed_at_start = len(hashed)
            super().start(jobs, ctx)

    executor = Recording(sandbox, 1)
    result = grade_batch(sources, tiny, executor, tmp_path / "out", dataset=None, student_id=None,
                         console=quiet_console)
    assert executor.hashed_at_start == 0 and [r.status for r in result.reports] == ["graded"] * 3
    assert sorted(hashed) == sorted(sources)  # each once, by the executor
    again = grade_batch(sources, tiny, LocalExecutor(sandbox, 1), tmp_path / "out", dataset=None, student_id=None,
                        console=quiet_console)
    assert again.cached == 3 and [r.cache_key for r in again.reports] == [r.cache_key for r in result.reports]
