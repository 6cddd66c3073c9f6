"""The hidden-test step: runners in the sandbox, the reference's outputs recorded once and
kept out of every workspace, then compared by the checker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import catalog, probes
from grader.errors import GraderError
from grader.probes import reference_workspace


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(probes.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_reference_outputs_are_recorded_once_per_course_build(tmp_path, tiny, runner, cache, monkeypatch):
    calls = []
    real = probes.run_probe_step
    monkeypatch.setattr(probes, "run_probe_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = probes.expected_outputs(tiny, runner)
    assert probes.expected_outputs(tiny, runner) == first and len(calls) == 1
    assert float(first["answer::mean_of_three"].outputs["mean"]) == 2.0
    (tiny.folder / "probes" / "answer.py").write_text((tiny.folder / "probes" / "answer.py").read_text() + "\n# changed\n")
    probes.expected_outputs(tiny, runner)
    assert len(calls) == 2  # a changed runner is a new course build


def test_runners_leave_the_workspace_with_their_step(tmp_path, tiny, runner, cache):
    ws = reference_workspace(tiny, tmp_path / "ws")
    result = probes.run_probe_step(tiny, ws, runner, tiny.spec.limits)
    assert result.error is None and "answer::mean_of_one" in result.records
    assert not (ws / probes.PROBE_DIR / "probes").exists()


@pytest.mark.parametrize("solution,error", [
    ("import os\nos._exit(7)\n", "the reference solution's hidden-test run failed: the hidden-test step stopped: exit code 7"),
    ("raise ValueError('bug')\n", "the reference solution fails hidden test answer::mean_of_three: ValueError"),
])
def test_a_failing_reference_is_a_clear_error(tmp_path, tiny_root, runner, cache, solution, error):
    (tiny_root / "solutions" / "tiny" / "answer.py").write_text(solution)
    tiny = catalog.load("tiny", tiny_root)
    with pytest.raises(GraderError, match=error):
        probes.expected_outputs(tiny, runner)


def test_without_solutions_the_shipped_outputs_are_used(tmp_path, tiny_root, runner, cache):
    tiny = catalog.load("tiny", tiny_root)
    shipped = probes.shipped_expected_path(tiny)
    shutil.copyfile(probes.expected_outputs_file(tiny, runner), shipped)
    shutil.rmtree(tiny_root / "solutions")
    shutil.rmtree(cache)
    assert float(probes.expected_outputs(tiny, runner)["answer::mean_of_one"].outputs["mean"]) == 5.0
    shipped.unlink()
    with pytest.raises(GraderError, match="need the reference solution"):
        probes.expected_outputs(tiny, runner)
