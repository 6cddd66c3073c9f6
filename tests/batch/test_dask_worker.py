"""The worker's per-process caches (grader/batch/dask_worker.py): the course fingerprint is hashed
again only when a file under it changed, the assignment parsed once per course build. No cluster."""

import json
import os

import pytest

import grader.batch.dask_worker as worker
import grader.safe_fs
from grader.course import catalog

from conftest import student_files, write_zip


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(worker, "_FINGERPRINTS", {})
    monkeypatch.setattr(worker, "_ASSIGNMENTS", {})
    monkeypatch.setattr(worker, "_IMAGES_PRESENT", set())
    monkeypatch.setattr(worker, "LISTING_FRESH_S", 0.0)  # every check lists the course (one test sets a window)


def counting_digests(monkeypatch) -> list:
    """Every tree_digest call the fingerprint makes (the reads of file contents)."""
    calls = []
    real = grader.safe_fs.tree_digest

    def counted(digest, root):
        calls.append(root)
        return real(digest, root)

    monkeypatch.setattr(worker, "tree_digest", counted)
    return calls


def test_a_second_task_reads_no_file_of_the_course(tiny_root, fresh, monkeypatch):
    reads = counting_digests(monkeypatch)
    first = worker.cached_fingerprint(tiny_root, "local")
    assert first == worker.course_fingerprint(tiny_root, "local") and reads
    reads.clear()
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    assert worker.cached_fingerprint(tiny_root, "local") == first
    assert reads == [] and opened == []


def test_a_changed_file_changes_the_fingerprint(tiny_root, fresh):
    first = worker.cached_fingerprint(tiny_root, "local")
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    before = os.stat(rubric)
    rubric.write_text(rubric.read_text().replace("points: 3", "points: 4"))  # same size, new content
    os.utime(rubric, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    second = worker.cached_fingerprint(tiny_root, "local")
    assert second != first and second == worker.course_fingerprint(tiny_root, "local")
    (tiny_root / "skeleton" / "tiny" / "extra.py").write_text("")
    assert worker.cached_fingerprint(tiny_root, "local") not in (first, second)


def test_a_change_is_seen_once_the_listing_window_has_passed(tiny_root, fresh, monkeypatch):
    """Tasks that end together share one listing of the course; an edit is refused after the window."""
    clock = [1000.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(worker, "LISTING_FRESH_S", 1.0)
    listings = []
    real = worker.tree_listing
    monkeypatch.setattr(worker, "tree_listing", lambda *a: listings.append(a) or real(*a))
    first = worker.cached_fingerprint(tiny_root, "local")
    (tiny_root / "skeleton" / "tiny" / "extra.py").write_text("")
    clock[0] += 0.5
    assert worker.cached_fingerprint(tiny_root, "local") == first and len(listings) == 1
    clock[0] += 0.6
    assert worker.cached_fingerprint(tiny_root, "local") == worker.course_fingerprint(tiny_root, "local") != first
    assert len(listings) == 2


def test_grade_task_parses_the_assignment_once_per_course_build(tmp_path, tiny_root, tiny, fresh, monkeypatch):
    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    loads = []
    real_load = catalog.load
    monkeypatch.setattr(catalog, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    data = write_zip(tmp_path / "s.zip", student_files(tiny)).read_bytes()
    fingerprint = worker.course_fingerprint(tiny_root, "local")
    for n in (1, 2):
        task = {"name": f"2025000{n}_x.zip", "data": data, "source": "x", "assignment": "tiny", "dataset": None,
                "student_id": None, "key": "k", "backend": "local", "fingerprint": fingerprint}
        result = worker.grade_task(task)
        assert json.loads(result["report"])["status"] == "graded"
    assert len(loads) == 1


def test_a_worker_grades_the_bytes_it_was_sent_for_an_lms_named_submission(tmp_path, tiny_root, tiny, fresh,
                                                                           monkeypatch):
    """An LMS download's identity names the client's path, which a remote worker does not have:
    the worker grades its own copy of the bytes, as that student (it once graded the client's path
    and rejected every Canvas or Moodle submission: "no such file or folder")."""
    from grader.steps.lms import Identity, SubmissionOrigin

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    data = write_zip(tmp_path / "upload.zip", student_files(tiny)).read_bytes()
    identity = Identity(tmp_path / "on-the-client" / "leebob_34567_89012_upload.zip", "20250042", "Bob Lee",
                        SubmissionOrigin(file_name="leebob_34567_89012_upload.zip"))
    task = {"name": "leebob_34567_89012_upload.zip", "data": data, "source": str(identity.source),
            "assignment": "tiny", "dataset": None, "student_id": None, "key": "k", "backend": "local",
            "fingerprint": worker.course_fingerprint(tiny_root, "local"), "identity": identity}
    result = worker.grade_task(task)
    report = json.loads(result["report"])
    assert report["status"] == "graded" and report["student_id"] == "20250042", report["message"]
    assert report["source"] == str(identity.source)  # the path the TA gave


def test_compiled_files_do_not_make_the_worker_hash_again(tiny_root, fresh, monkeypatch):
    """A worker importing a module writes __pycache__ under the course or the grader: not a change
    (the hash skips those folders), so the listing skips them too."""
    first = worker.cached_fingerprint(tiny_root, "local")
    reads = counting_digests(monkeypatch)
    cache = tiny_root / "skeleton" / "tiny" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "answer.cpython-311.pyc").write_bytes(b"compiled")
    assert worker.cached_fingerprint(tiny_root, "local") == first and reads == []


def test_grade_task_sends_the_report_unwritten_naming_the_clients_path(tmp_path, tiny_root, tiny, fresh,
                                                                       monkeypatch):
    """The worker sends the report and the logs; the client writes report.json and the page (the worker
    wrote both, read them back to send them, and the client wrote them again)."""
    import grader.reports.report
    import grader.steps.pipeline

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    writes = []
    real = grader.reports.report.write_report
    monkeypatch.setattr(grader.steps.pipeline, "write_report", lambda *a, **k: writes.append(a) or real(*a, **k))
    data = write_zip(tmp_path / "s.zip", student_files(tiny)).read_bytes()
    task = {"name": "20250001_x.zip", "data": data, "source": "/on/the/client/20250001_x.zip", "assignment": "tiny",
            "dataset": None, "student_id": None, "key": "k", "backend": "local",
            "fingerprint": worker.course_fingerprint(tiny_root, "local")}
    result = worker.grade_task(task)
    report = json.loads(result["report"])
    assert report["status"] == "graded" and report["source"] == "/on/the/client/20250001_x.zip"
    assert writes == [] and result["files"] and all(name.startswith("logs/") for name in result["files"])


@pytest.mark.parametrize("name", ["20250001_x", "work", "20250001_x.zip"])
def test_a_submission_named_like_the_tasks_own_folder_is_graded(tmp_path, tiny_root, tiny, fresh, monkeypatch,
                                                                  name):
    """A task's folder holds the submission's bytes and the grading's folder side by side: a
    submission named like the other is graded all the same."""
    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    data = write_zip(tmp_path / "s.zip", student_files(tiny)).read_bytes()
    task = {"name": name, "data": data, "source": f"/on/the/client/{name}", "assignment": "tiny", "dataset": None,
            "student_id": "20250001", "key": "k", "backend": "local",
            "fingerprint": worker.course_fingerprint(tiny_root, "local")}
    result = worker.grade_task(task)
    report = json.loads(result["report"])
    assert (report["status"], report["score"]) == ("graded", 16), report["message"]
    assert any(rel.startswith("logs/") for rel in result["files"])
    source, work = worker._task_layout(tmp_path, name)
    assert source != work and source.parent == work.parent == tmp_path


def test_grade_task_keeps_the_logs_in_memory(tmp_path, tiny_root, tiny, fresh, monkeypatch):
    """The logs a worker sends are read from the workspace, never copied into a report folder on the
    worker first (two folders and a file per log, only to be read back and deleted)."""
    import tempfile

    from grader.steps import workspace

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    data = write_zip(tmp_path / "s.zip", student_files(tiny)).read_bytes()
    task = {"name": "20250001_x.zip", "data": data, "source": "/on/the/client/20250001_x.zip", "assignment": "tiny",
            "dataset": None, "student_id": None, "key": "k", "backend": "local",
            "fingerprint": worker.course_fingerprint(tiny_root, "local")}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(workspace, "discard", lambda path: None)  # the task's folder stays to be looked at
    result = worker.grade_task(task)
    report = json.loads(result["report"])
    logs = [rel for rel in result["files"] if rel.startswith("logs/")]
    assert report["status"] == "graded" and logs and all(result["files"][rel] for rel in logs)
    assert result["dropped"] == []
    (task_folder,) = scratch.iterdir()
    assert sorted(p.name for p in task_folder.iterdir()) == ["20250001_x.zip", "work"]
    assert not any(p.name == "logs" for p in (task_folder / "work").glob("*"))


def test_the_preload_readies_the_worker_before_its_first_task(tiny_root, fresh, monkeypatch, capsys):
    """`dask worker --preload grader.batch.dask_worker`: the course hashed once (the client's check
    and the first task reuse it), the assignments parsed, background deletion on and what a stopped
    grader left in the trash deleted before any task (not by each process's first submission)."""
    from types import SimpleNamespace

    from grader.steps import workspace

    monkeypatch.setattr(workspace, "_JANITOR", None)
    monkeypatch.setattr(workspace, "_EMPTIED_AT", {})
    monkeypatch.setenv(workspace.TRASH_ENV, str(tiny_root.parent / "trash"))
    left = tiny_root.parent / "trash" / f"999999999-1-{'b' * 32}"  # a grader that is gone
    left.mkdir(parents=True)
    os.chmod(left.parent, 0o700)
    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    monkeypatch.setenv("GRADER_BACKEND", "local")
    expected = worker.course_fingerprint(tiny_root, "local")
    reads = counting_digests(monkeypatch)
    worker.dask_setup(SimpleNamespace(address="tcp://127.0.0.1:1"))
    assert reads
    try:
        assert ("tiny" in {key[1] for key in worker._ASSIGNMENTS}) and workspace._JANITOR.poll() is None
        assert not left.exists() and workspace.empty_trash_now_and_then() == []  # swept: not again at once
    finally:
        workspace.stop_janitor()  # this test process goes back to deleting at once
    reads.clear()
    assert worker.check_course(expected, "local") == expected and reads == []
    assert f"fingerprint {expected} (local)" in capsys.readouterr().out


def test_a_workers_threads_parse_the_assignment_once_between_them(tiny_root, fresh, monkeypatch):
    import threading
    import time

    loads = []
    real_load = catalog.load

    def slow_load(*args, **kwargs):
        loads.append(args)
        time.sleep(0.2)  # every thread asks while the first parse runs
        return real_load(*args, **kwargs)

    monkeypatch.setattr(catalog, "load", slow_load)
    fingerprint = worker.course_fingerprint(tiny_root, "local")
    got = []
    threads = [threading.Thread(target=lambda: got.append(worker.cached_assignment("tiny", tiny_root, fingerprint)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(got) == 4 and all(a is got[0] for a in got)


def test_a_worker_reports_the_submission_time_of_the_clients_file(tmp_path, tiny_root, tiny, fresh, monkeypatch):
    """The late policy reads a plain submission's time from its file: a worker's copy is written when
    the task arrives, so it carries the time of the client's file (it reported the grading time,
    and every submission graded on a cluster after the due date was late)."""
    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    source = write_zip(tmp_path / "20250001_x.zip", student_files(tiny))
    os.utime(source, (1_700_000_000, 1_700_000_000))  # 2023-11-14T22:13:20Z
    task = {"name": source.name, "data": source.read_bytes(), "source": str(source), "assignment": "tiny",
            "dataset": None, "student_id": None, "key": "k", "backend": "local",
            "fingerprint": worker.course_fingerprint(tiny_root, "local"), "mtime_ns": source.stat().st_mtime_ns}
    report = json.loads(worker.grade_task(task)["report"])
    assert report["origin"]["submitted_at"] == "2023-11-14T22:13:20+00:00"


def test_a_docker_worker_refuses_without_the_image_and_looks_once_per_course_build(tiny_root, fresh, monkeypatch):
    from grader.sandbox import docker, image

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    monkeypatch.setattr(image, "image_tag", lambda: "grader-sandbox:test")
    looked = []
    present = [False]
    monkeypatch.setattr(docker, "image_present", lambda tag: looked.append(tag) or present[0])
    expected = worker.course_fingerprint(tiny_root, "docker")
    with pytest.raises(worker.CourseMismatch, match="grading image grader-sandbox:test is not built there"):
        worker.check_course(expected, "docker")
    present[0] = True
    assert worker.check_course(expected, "docker") == expected == worker.check_course(expected, "docker")
    assert looked == ["grader-sandbox:test"] * 2


def test_a_crash_on_the_worker_sends_its_traceback(tmp_path, tiny_root, tiny, fresh, monkeypatch):
    """An internal error's traceback (grader_error.txt) reaches the client with the report, as it
    lands in the report folder when graded locally."""
    import grader.steps.pipeline

    def broken_score(*args, **kwargs):
        raise RuntimeError("scoring broke")

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    monkeypatch.setattr(grader.steps.pipeline, "score", broken_score)
    data = write_zip(tmp_path / "s.zip", student_files(tiny)).read_bytes()
    task = {"name": "20250001_x.zip", "data": data, "source": "/on/the/client/20250001_x.zip", "assignment": "tiny",
            "dataset": None, "student_id": None, "key": "k", "backend": "local",
            "fingerprint": worker.course_fingerprint(tiny_root, "local")}
    result = worker.grade_task(task)
    assert json.loads(result["report"])["status"] == "crashed"
    assert b"RuntimeError: scoring broke" in result["files"]["grader_error.txt"]


def test_a_worker_with_another_course_secret_refuses(tmp_path, tiny_root, fresh, monkeypatch):
    """The course secret seeds each student's held-out draw: a worker machine with a key of its own
    would grade the same submission differently, so it refuses, naming its key's file and public id
    (never the key)."""
    from grader.course import secret

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    monkeypatch.setattr(secret, "_KNOWN", {})
    clients = tmp_path / "client_secret"
    clients.write_text("a" * 64)
    monkeypatch.setenv(secret.SECRET_ENV, str(clients))
    expected = worker.course_fingerprint(tiny_root, "local")
    assert worker.check_course(expected, "local") == expected
    workers = tmp_path / "worker_secret"
    workers.write_text("b" * 64)
    monkeypatch.setenv(secret.SECRET_ENV, str(workers))
    with pytest.raises(worker.CourseMismatch) as refused:
        worker.check_course(expected, "local")
    message = str(refused.value)
    assert "course secret" in message and str(workers) in message and secret.secret_id() in message
    assert "b" * 64 not in message and "\n" not in message
    clients.replace(workers)  # the client's key copied over the worker's: the same fingerprint again
    assert worker.check_course(expected, "local") == expected


def test_the_worker_check_names_the_course_secret_by_its_id(tmp_path, tiny_root, fresh, monkeypatch):
    from grader.course import secret

    monkeypatch.setenv(catalog.ROOT_ENV, str(tiny_root))
    monkeypatch.setattr(secret, "_KNOWN", {})
    key = tmp_path / "course_secret"
    key.write_text("c" * 64)
    monkeypatch.setenv(secret.SECRET_ENV, str(key))
    rows = {name: detail for name, ok, detail in worker.prepare("local", tmp_path)}
    assert str(key) in rows["secret"] and secret.secret_id() in rows["secret"] and "c" * 64 not in rows["secret"]
