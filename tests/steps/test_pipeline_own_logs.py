"""`grader check` on a notebook submission: given cells restored as grading restores them, and the
same "given cell edited" flag."""

from pathlib import Path

import pytest

from grader.course import catalog
from grader.course.skeleton import replace_in_source
from grader.steps.pipeline import check_own_logs, grade_submission
from grader.steps.workspace import EDITED_GIVEN

from conftest import run_cli, write_zip

FLAG = (EDITED_GIVEN + "tiny.ipynb cell 3 (\"results = {'first': mean([1, 2, 3])}\") was changed (restored)")
LOG = "Summary: {'first': 99, 'second': 3}\n"


@pytest.fixture
def tiny_nb(tiny_nb_root: Path, tmp_path: Path, monkeypatch) -> catalog.Assignment:
    monkeypatch.setenv("GRADER_DATA", str(tmp_path / "data"))
    return catalog.load("tiny_nb", tiny_nb_root)


def _student_folder(folder: Path, notebook: str) -> Path:
    folder.mkdir()
    (folder / "tiny.ipynb").write_text(notebook)
    (folder / "nb_log.txt").write_text(LOG)  # what their own run of the edited notebook printed
    return folder


def _forged(assignment: catalog.Assignment) -> str:
    return replace_in_source((assignment.skeleton_dir / "tiny.ipynb").read_text(), "tiny.ipynb",
                             "results = {'first': mean([1, 2, 3])}", "results = {'first': 99}")


def test_check_flags_an_edited_given_cell_exactly_as_grading_does(tmp_path, tiny_nb, sandbox):
    forged = _forged(tiny_nb)
    checked = check_own_logs(tiny_nb, _student_folder(tmp_path / "work", forged), sandbox)
    graded = grade_submission(write_zip(tmp_path / "20250042_ana.zip", {"tiny.ipynb": forged}), tiny_nb, sandbox,
                              tmp_path / "out")
    assert checked.flags == [FLAG]
    assert [f for f in graded.flags if f.startswith(EDITED_GIVEN)] == checked.flags


def test_check_of_an_untouched_notebook_flags_nothing(tmp_path, tiny_nb, sandbox):
    pristine = (tiny_nb.skeleton_dir / "tiny.ipynb").read_text()
    assert check_own_logs(tiny_nb, _student_folder(tmp_path / "work", pristine), sandbox).flags == []


def test_grader_check_shows_the_flag_and_says_grading_runs_the_restored_cells(tmp_path, tiny_nb, tiny_nb_root):
    folder = _student_folder(tmp_path / "work", _forged(tiny_nb))
    result = run_cli("--root", str(tiny_nb_root), "check", "tiny_nb", "--dir", str(folder),
                     env={"GRADER_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "cell 3" in text and "was changed (restored)" in text
    assert "grading runs it with them restored as the handout has them" in text
