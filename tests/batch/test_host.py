"""Fitting a batch to its host: the notice when the host's runnable load exceeds its cores."""

import io
import os

import pytest
from rich.console import Console

from grader.batch import host
from grader.commands.grade import grade_all

from conftest import student_files, write_zip

NOTICE = "exceeds its"


def test_a_load_over_the_cores_gives_one_notice_and_none_below():
    assert host.load_notice(lambda: (9.5, 3.0, 1.0), cores=2) == (
        "notice: this host's load (9.5) exceeds its 2 cores: grades stay the same, grading will be slower")
    assert host.load_notice(lambda: (2.0, 9.0, 9.0), cores=2) is None  # the 1-minute figure decides

    def unreadable():
        raise OSError("no load average")

    assert host.load_notice(unreadable, cores=2) is None


def test_grade_says_so_once_at_the_start_of_a_batch_on_a_loaded_host(tmp_path, tiny, sandbox, monkeypatch):
    batch = tmp_path / "batch"
    batch.mkdir()
    write_zip(batch / "20250001_ana.zip", student_files(tiny))
    buffer = io.StringIO()
    console = Console(file=buffer, width=300)
    monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    reports = grade_all(sorted(batch.iterdir()), tiny, sandbox, tmp_path / "out", dataset=None, student_id=None,
                        console=console)
    assert [r.status for r in reports] == ["graded"]
    text = buffer.getvalue()
    assert text.count(NOTICE) == 1
    assert "this host's load (64.0) exceeds its 2 cores: grades stay the same, grading will be slower" in text
    assert text.index(NOTICE) < text.index("graded now")

    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    buffer.truncate(0)
    grade_all(sorted(batch.iterdir()), tiny, sandbox, tmp_path / "out2", dataset=None, student_id=None, console=console)
    assert NOTICE not in buffer.getvalue()


@pytest.mark.parametrize("jobs", [1, 2, 64])
def test_a_jobs_share_lowers_the_quota_never_the_threads(tiny, jobs, monkeypatch):
    """Sums split over another number of threads round differently, and training carries that into
    the scores: however many submissions share the machine, a step gets the assignment's threads."""
    from grader.batch import host
    from grader.sandbox.base import step_environment

    monkeypatch.setattr(host.os, "cpu_count", lambda: 2)
    declared = tiny.spec.limits
    shared = host.with_cpu_share(tiny, jobs).spec.limits
    assert shared.cpus == max(1.0, min(declared.cpus, 2 / jobs))
    assert step_environment(shared)["OMP_NUM_THREADS"] == step_environment(declared)["OMP_NUM_THREADS"] == \
        str(max(1, int(declared.cpus)))


def test_an_assignment_may_set_its_threads(tiny, monkeypatch):
    import dataclasses

    from grader.batch import host
    from grader.sandbox.base import step_environment

    monkeypatch.setattr(host.os, "cpu_count", lambda: 2)
    limits = tiny.spec.limits.model_copy(update={"cpus": 4.0, "threads": 3})
    assignment = dataclasses.replace(tiny, spec=tiny.spec.model_copy(update={"limits": limits}))
    assert step_environment(host.with_cpu_share(assignment, 8).spec.limits)["MKL_NUM_THREADS"] == "3"
