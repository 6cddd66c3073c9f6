"""The hidden-test step: runners in the sandbox, the reference's outputs recorded once and
kept out of every workspace, then compared by the checker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.course import catalog
from grader.errors import GraderError
from grader.steps import hidden_tests
from grader.steps.hidden_tests import reference_workspace


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(hidden_tests.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_reference_outputs_are_recorded_once_per_course_build(tmp_path, tiny, sandbox, cache, monkeypatch):
    calls = []
    real = hidden_tests.run_step
    monkeypatch.setattr(hidden_tests, "run_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = hidden_tests.expected_outputs(tiny, sandbox)
    assert hidden_tests.expected_outputs(tiny, sandbox) == first and len(calls) == 1
    assert float(first["answer::mean_of_three"].outputs["mean"]) == 2.0
    (tiny.folder / "hidden_tests" / "answer.py").write_text((tiny.folder / "hidden_tests" / "answer.py").read_text()
                                                            + "\n# changed\n")
    hidden_tests.expected_outputs(tiny, sandbox)
    assert len(calls) == 2  # a changed runner is a new course build


@pytest.mark.parametrize("module", ["runner_kit.py", "declarative.py", "notebook.py"])
def test_the_grader_s_own_runner_modules_are_part_of_the_course_build(tmp_path, tiny, sandbox, module, monkeypatch):
    """A notebook runner imports the notebook's functions with grader/inside/notebook.py: a change
    there may change what the reference records, as a change to the runner kit may."""
    package = tmp_path / "grader"
    shutil.copytree(Path(hidden_tests.__file__).parents[1] / "inside", package / "inside")
    monkeypatch.setattr(hidden_tests, "__file__", str(package / "steps" / "hidden_tests.py"))
    before = hidden_tests._expected_key(tiny, sandbox)
    assert hidden_tests._expected_key(tiny, sandbox) == before
    (package / "inside" / module).write_bytes((package / "inside" / module).read_bytes() + b"\n# changed\n")
    assert hidden_tests._expected_key(tiny, sandbox) != before


def test_runners_leave_the_workspace_with_their_step(tmp_path, tiny, sandbox, cache):
    ws = reference_workspace(tiny, tmp_path / "ws")
    result = hidden_tests.run_step(tiny, ws, sandbox, tiny.spec.limits)
    assert result.error is None and "answer::mean_of_one" in result.records
    assert not (ws / hidden_tests.GRADER_DIR / "hidden_tests").exists()


@pytest.mark.parametrize("solution,error", [
    ("import os\nos._exit(7)\n",
     "the reference solution's hidden-test run failed: the hidden-test step stopped: exit code 7"),
    ("raise ValueError('bug')\n", "the reference solution fails hidden test answer::mean_of_three: ValueError"),
])
def test_a_failing_reference_is_a_clear_error(tmp_path, tiny_root, sandbox, cache, solution, error):
    (tiny_root / "solutions" / "tiny" / "answer.py").write_text(solution)
    tiny = catalog.load("tiny", tiny_root)
    with pytest.raises(GraderError, match=error):
        hidden_tests.expected_outputs(tiny, sandbox)


def test_without_solutions_the_shipped_outputs_are_used(tmp_path, tiny_root, sandbox, cache):
    tiny = catalog.load("tiny", tiny_root)
    shipped = hidden_tests.shipped_expected_path(tiny)
    shutil.copyfile(hidden_tests.expected_outputs_file(tiny, sandbox), shipped)
    shutil.rmtree(tiny_root / "solutions")
    shutil.rmtree(cache)
    assert float(hidden_tests.expected_outputs(tiny, sandbox)["answer::mean_of_one"].outputs["mean"]) == 5.0
    shipped.unlink()
    with pytest.raises(GraderError, match="need the reference solution"):
        hidden_tests.expected_outputs(tiny, sandbox)
