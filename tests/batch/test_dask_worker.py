"""The worker's per-process caches (grader/batch/dask_worker.py): the course fingerprint is hashed
again only when a file under it changed, the assignment parsed once per course build. No cluster."""

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
        assert "report.json" in result["files"]
    assert len(loads) == 1
