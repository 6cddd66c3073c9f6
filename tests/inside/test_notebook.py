"""Notebooks: headless execution cell by cell (errors, per-cell and total time limits), the
`functions` cells as a module, and notebook submissions graded end to end on the tiny
notebook assignment (partial results, the failing cell in the report, cached assets)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.course import catalog
from grader.course.skeleton import count_in_source, plain_solution, replace_in_source
from grader.inside.notebook import NotebookError, function_cells_source, import_function_cells
from grader.steps.assets import assets_folder, ensure_assets
from grader.steps.given_cells import restore_given_cells
from grader.steps.pipeline import data_root, grade_submission

from conftest import notebook_submission, run_cli, write_zip

FUNCTIONS = {"tags": ["functions"]}


def notebook(path: Path, *sources: str, tagged: int = 0) -> Path:
    cells = [new_code_cell(src, metadata=FUNCTIONS if i < tagged else {}) for i, src in enumerate(sources)]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}),
                   str(path))
    return path


def execute(path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.inside.notebook", "execute", str(path), "--output",
                           str(path.parent / "out" / path.name), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=path.parent)


def test_outputs_stream_to_stdout_and_the_executed_notebook_is_saved(tmp_path):
    result = execute(notebook(tmp_path / "a.ipynb", "x = 21", "print('Summary:', {'v': x * 2})", "x"))
    assert result.returncode == 0, result.stderr
    assert "Summary: {'v': 42}" in result.stdout and "21" in result.stdout
    executed = nbformat.read(str(tmp_path / "out" / "a.ipynb"), as_version=4)
    assert executed.cells[1].outputs[0]["text"].startswith("Summary:")


def test_an_error_stops_the_run_naming_the_cell(tmp_path):
    result = execute(notebook(tmp_path / "e.ipynb", "print('before')", "1 / 0", "print('after')"))
    assert result.returncode == 1 and "before" in result.stdout and "after" not in result.stdout
    assert (result.stderr.strip().splitlines()[-1]
            == "Notebook stopped: cell 2 ('1 / 0') raised ZeroDivisionError: division by zero")


def test_a_syntax_error_is_reported_like_any_error(tmp_path):
    result = execute(notebook(tmp_path / "s.ipynb", "print('ok')", "def broken(:\n    pass"))
    assert result.returncode == 1 and "cell 2 ('def broken(:') raised SyntaxError" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cell_over_its_cpu_time_limit_is_stopped(tmp_path):
    result = execute(notebook(tmp_path / "t.ipynb", "print('Summary:', {'a': 1})", "while True:\n    pass"),
                     "--cell-timeout", "2")
    assert result.returncode == 124 and "Summary: {'a': 1}" in result.stdout
    assert "cell 2 ('while True:') used more than its CPU-time limit (2 s of CPU)" in result.stderr


def test_the_total_cpu_time_limit_stops_between_or_inside_cells(tmp_path):
    burn = "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass"
    result = execute(notebook(tmp_path / "total.ipynb", burn, burn, "print('late')"), "--timeout", "2",
                     "--cell-timeout", "60")
    assert result.returncode == 124 and "late" not in result.stdout
    assert "cell 2 ('import time') used more than the rest of the total CPU-time limit" in result.stderr


def test_a_cell_that_waits_without_computing_meets_the_wall_clock_backstop(tmp_path):
    # sleeping costs no CPU: only the backstop (CPU limit x wall factor) ends it, and the exit
    # code asks the grader for one more run
    result = execute(notebook(tmp_path / "w.ipynb", "import time; time.sleep(60)"), "--cell-timeout", "1",
                     "--wall-factor", "2")
    assert result.returncode == 75
    assert "cell 1 ('import time; time.sleep(60)') ran past its wall-clock backstop of 2 s" in result.stderr


def test_cpu_time_of_a_cell_counts_the_processes_it_starts(tmp_path):
    child = ("import subprocess, sys\n"
             "burn = 'import time\\nend = time.process_time() + 30\\nwhile time.process_time() < end: pass'\n"
             "subprocess.run([sys.executable, '-c', burn])")
    result = execute(notebook(tmp_path / "c.ipynb", child), "--cell-timeout", "2")
    assert result.returncode == 124 and "used more than its CPU-time limit (2 s of CPU)" in result.stderr


def test_an_unreadable_notebook_is_one_line(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    result = execute(bad)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Notebook stopped: {bad}: not a readable notebook")


def test_function_cells_import_without_running_the_rest(tmp_path):
    path = notebook(tmp_path / "f.ipynb", "%matplotlib inline\ndef double(x):\n    return 2 * x",
                    "raise SystemExit('training')", tagged=1)
    module = import_function_cells(path)
    assert module.double(4) == 8
    assert "SystemExit" not in function_cells_source(nbformat.read(str(path), as_version=4))
    with pytest.raises(NotebookError, match="no code cell is tagged 'functions'"):
        import_function_cells(notebook(tmp_path / "none.ipynb", "x = 1"))


def test_baseline_edits_and_plain_solutions_work_on_cell_sources(tmp_path):
    text = nbformat.writes(new_notebook(cells=[new_code_cell('def f():\n    # BEGIN SOLUTION: hint\n'
                                                             '    return "a"\n    # END SOLUTION')]))
    plain = plain_solution(text, "x.ipynb")
    assert nbformat.reads(plain, as_version=4).cells[0].source == 'def f():\n    return "a"'
    assert count_in_source(plain, "x.ipynb", 'return "a"') == 1  # the JSON text holds it escaped, the cell plainly
    edited = replace_in_source(plain, "x.ipynb", 'return "a"', 'return "b"')
    assert nbformat.reads(edited, as_version=4).cells[0].source.endswith('return "b"')


# ----------------------------------------------------------------------------- end to end

@pytest.fixture
def tiny_nb(tiny_nb_root: Path, tmp_path: Path, monkeypatch) -> catalog.Assignment:
    monkeypatch.setenv("GRADER_DATA", str(tmp_path / "data"))
    return catalog.load("tiny_nb", tiny_nb_root)




def items(report) -> dict[str, float]:
    return {i.id: i.points for i in report.items}


def test_reference_notebook_gets_full_marks_with_the_executed_notebook_kept(tmp_path, tiny_nb, sandbox):
    report = grade_submission(notebook_submission(tmp_path, tiny_nb), tiny_nb, sandbox, tmp_path / "out")
    assert report.status == "graded" and report.score == 6 == report.max_score, report.items
    executed = tmp_path / "out" / "20250042_ana" / "artifacts" / "executed" / "tiny.ipynb"
    assert nbformat.read(str(executed), as_version=4).cells[2].outputs, "outputs kept in the report"
    assert report.runs[0].artifacts == ["artifacts/executed/tiny.ipynb"]
    assert "artifacts/executed/tiny.ipynb" in (tmp_path / "out" / "20250042_ana" / "report.html").read_text()


def test_syntax_error_notebook_is_graded_on_what_it_produced(tmp_path, tiny_nb, sandbox):
    report = grade_submission(notebook_submission(tmp_path, tiny_nb, ("results['second'] = mean([2, 4])",
                                                                      "results['second'] = mean([2, 4]")),
                              tiny_nb, sandbox, tmp_path / "out")
    assert report.status == "graded" and items(report) == {"first": 2, "second": 0, "scaled": 1, "tests": 1}
    stop = "notebook: Notebook stopped: cell 4 (\"results['second'] = mean([2, 4]\") raised SyntaxError"
    assert any(w.startswith(stop) for w in report.warnings), report.warnings
    assert "Summary has no 'second' (has first)" in next(i for i in report.items if i.id == "second").message


def test_never_finishing_notebook_is_stopped_and_graded_on_what_it_produced(tmp_path, tiny_nb, sandbox):
    report = grade_submission(notebook_submission(tmp_path, tiny_nb, ("results['second'] = mean([2, 4])",
                                                                      "while True:\n    pass")),
                              tiny_nb, sandbox, tmp_path / "out")
    assert items(report) == {"first": 2, "second": 0, "scaled": 1, "tests": 1}
    # a cell stopped at its CPU-time limit makes the submission a timeout, saying which cell
    assert report.status == "timeout", report.message
    assert report.message.startswith("timed out: notebook stopped at a CPU-time limit of its own")
    assert ("last output: Notebook stopped: cell 4 ('while True:') used more than its CPU-time limit (4 s of CPU)"
            in report.message)
    assert any("used more than its CPU-time limit (4 s of CPU)" in w for w in report.warnings), report.warnings


def test_skeleton_notebook_scores_zero_with_a_clean_report(tmp_path, tiny_nb, sandbox):
    zip_path = write_zip(tmp_path / "20250042_ana.zip",
                         {"tiny.ipynb": (tiny_nb.skeleton_dir / "tiny.ipynb").read_text()})
    report = grade_submission(zip_path, tiny_nb, sandbox, tmp_path / "out")
    assert report.status == "graded" and report.score == 0
    assert any("raised NotImplementedError: TODO (tiny.ipynb): the arithmetic mean" in w for w in report.warnings)


def test_assets_are_built_once_and_reused(tmp_path, tiny_nb, sandbox):
    calls = []

    class Counting:
        name = "counting"

        def python(self):
            return sandbox.python()

        def run(self, request):
            calls.append(request.argv)
            return sandbox.run(request)

    folder = ensure_assets(tiny_nb, None, data_root(), Counting(), lambda s: s.format(python=sandbox.python()))
    assert folder == assets_folder(tiny_nb, None, data_root()) and (folder / "scale.txt").read_text() == "10\n"
    assert ensure_assets(tiny_nb, None, data_root(), Counting(), lambda s: s) == folder
    assert len(calls) == 1, "the second call reads the cache"
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith("build-")] == [], "no build folder left behind"


def test_a_failing_asset_is_one_clear_error(tmp_path, tiny_nb, sandbox):
    (tiny_nb.skeleton_dir / "make_asset.py").write_text("raise SystemExit('no data here')\n")
    report = grade_submission(notebook_submission(tmp_path, tiny_nb), tiny_nb, sandbox, tmp_path / "out")
    assert report.status == "error" and report.message.startswith("building asset scale failed (exit code 1")
    assert "no data here" in report.message


def test_validate_a_notebook_assignment_through_the_cli(tiny_nb_root, tmp_path):
    result = run_cli("--root", str(tiny_nb_root), "validate", "--jobs", "2",
                     env={"GRADER_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stdout
    for line in ("tiny_nb: ok   skeleton in sync", "tiny_nb: ok   reference: 6/6 as expected",
                 "tiny_nb: ok   skeleton: 0/6 as expected"):
        assert line in result.stdout
    assert "(2 at a time)" in result.stdout


# ------------------------------------------------------- given cells restored from the skeleton

RESULTS_CELL = 'cell 3 ("results = {\'first\': mean([1, 2, 3])}")'  # how a report names it


def _skeleton_nb():
    cells = [new_markdown_cell("# Task"),
             new_code_cell("def mean(values):\n    # TODO: the mean\n"
                           "    raise NotImplementedError('TODO (t.ipynb): the mean')",
                           metadata=FUNCTIONS),
             new_code_cell("results = {'first': mean([1, 2, 3])}\nprint('Summary:', results)"),
             new_code_cell("save(results)")]
    return new_notebook(cells=cells)


def _student_from(skeleton, **sources):
    """The skeleton with some code cells' text replaced ({index: source})."""
    student = copy.deepcopy(skeleton)
    student.cells[1].source = "def mean(values):\n    return sum(values) / len(values)"
    for key, source in sources.items():
        student.cells[int(key[1:])].source = source
    return student


def test_an_untouched_given_part_is_not_reported():
    skeleton = _skeleton_nb()
    student = _student_from(skeleton)
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == [] and restored.cells == student.cells


def test_an_edited_given_cell_is_restored_and_reported_the_todo_cell_kept():
    skeleton = _skeleton_nb()
    restored, edited = restore_given_cells(_student_from(skeleton, c2="print('Summary:', {'first': 99})"), skeleton)
    assert edited == [f"{RESULTS_CELL} was changed"]
    assert [c.source for c in restored.cells[1:]] == ["def mean(values):\n    return sum(values) / len(values)",
                                                      skeleton.cells[2].source, "save(results)"]


def test_without_cell_ids_given_cells_are_found_by_their_text_and_added_cells_stay_where_they_were():
    skeleton = _skeleton_nb()
    student = _student_from(skeleton, c2="results = {'first': mean([1, 2, 3]) + 1}\nprint('Summary:', results)")
    for cell in student.cells:
        cell.pop("id", None)
    student.cells.insert(3, new_code_cell("import matplotlib.pyplot as plt"))
    student.cells.insert(4, new_markdown_cell("My answer: the mean."))
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == [f"{RESULTS_CELL} was changed"]
    assert [c.source for c in restored.cells] == [
        "# Task", "def mean(values):\n    return sum(values) / len(values)", skeleton.cells[2].source,
        "import matplotlib.pyplot as plt", "My answer: the mean.", "save(results)"]
    assert restored.cells[1].metadata["tags"] == ["functions"]


def test_a_deleted_given_cell_comes_back_and_a_moved_one_goes_back_to_its_place():
    skeleton = _skeleton_nb()
    student = _student_from(skeleton)
    student.cells = [student.cells[0], student.cells[3], student.cells[1]]  # deleted cell 3, moved cell 4 up
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == [f"{RESULTS_CELL} was deleted"]
    assert ([c.source for c in restored.cells if c.cell_type == "code"][1:]
            == [skeleton.cells[2].source, "save(results)"])


def test_a_deleted_todo_cell_is_not_put_back():
    skeleton = _skeleton_nb()
    student = _student_from(skeleton)
    del student.cells[1]
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == [] and not any("NotImplementedError" in c.source for c in restored.cells)


def test_the_workspace_runs_the_given_cells_of_the_skeleton_and_flags_edits(tmp_path, tiny_nb):
    from grader.steps.intake import open_submission
    from grader.steps.workspace import prepare_workspace

    forged = replace_in_source((tiny_nb.skeleton_dir / "tiny.ipynb").read_text(), "tiny.ipynb",
                               "results = {'first': mean([1, 2, 3])}", "results = {'first': 99}")
    zip_path = write_zip(tmp_path / "20250042_ana.zip", {"tiny.ipynb": forged})
    submission = open_submission(zip_path, tmp_path / "submitted", tiny_nb.spec.intake, None)
    ws = prepare_workspace(tiny_nb, submission, tmp_path / "ws")
    assert (ws.path / "tiny.ipynb").read_text() == (tiny_nb.skeleton_dir / "tiny.ipynb").read_text()
    assert ws.flags == [f"given notebook cells were edited: tiny.ipynb {RESULTS_CELL} "
                        "was changed (restored)"]


def test_a_notebook_that_edits_a_given_cell_to_print_its_results_gets_no_points_for_them(tmp_path, tiny_nb, sandbox):
    forged = replace_in_source((tiny_nb.skeleton_dir / "tiny.ipynb").read_text(), "tiny.ipynb",
                               "results = {'first': mean([1, 2, 3])}", "results = {'first': 99}")
    report = grade_submission(write_zip(tmp_path / "20250042_ana.zip", {"tiny.ipynb": forged}), tiny_nb, sandbox,
                              tmp_path / "out")
    assert items(report)["first"] == 0, report.items
    (tmp_path / "honest").mkdir()
    honest = grade_submission(notebook_submission(tmp_path / "honest", tiny_nb), tiny_nb, sandbox,
                              tmp_path / "out-honest")
    assert items(honest)["first"] == 2  # the same set-up gives the points to a notebook that earned them


def test_an_older_format_notebook_without_ids_comes_out_valid():
    skeleton = _skeleton_nb()
    student = _student_from(skeleton, c2="print('forged')")
    student.nbformat_minor = 4
    for cell in student.cells:
        cell.pop("id", None)
    restored, edited = restore_given_cells(student, skeleton)
    nbformat.validate(restored)  # the restored cells' ids and the student's cells in one format
    assert edited and len({c.id for c in restored.cells}) == len(restored.cells)


def _skeleton_with_imports():
    cells = [new_code_cell("import math\nimport os.path\n\nSCALE = 2"),
             new_code_cell("def area(r):\n    # TODO: the area\n"
                           "    raise NotImplementedError('TODO (t.ipynb): the area')",
                           metadata=FUNCTIONS),
             new_code_cell("print('Summary:', {'area': area(1) * SCALE})")]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def test_imports_a_student_adds_to_a_given_cell_are_kept_and_the_rest_restored(tmp_path):
    skeleton = _skeleton_with_imports()
    student = copy.deepcopy(skeleton)
    student.cells[0].source = ("import math\nfrom fractions import Fraction as Fr\nimport os.path\n"
                               "from statistics import (\n    fmean,\n)\n\nSCALE = 2")
    student.cells[1].source = "def area(r):\n    return float(Fr(1, 1)) * fmean([math.pi]) * r * r"
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == []  # adding imports is not an edit worth a flag
    assert restored.cells[0].source == ("import math\nimport os.path\nfrom fractions import Fraction as Fr\n"
                                        "from statistics import (\n    fmean,\n)\n\nSCALE = 2")
    done = execute(notebook(tmp_path / "t.ipynb", *(c.source for c in restored.cells)))
    assert done.returncode == 0 and "Summary: {'area': 6.28" in done.stdout, done.stdout + done.stderr


def test_only_import_lines_are_kept_in_a_given_cell_and_none_that_rebinds_a_given_name():
    skeleton = _skeleton_with_imports()
    student = copy.deepcopy(skeleton)
    student.cells[0].source = ("import math\nimport os.path\nimport json; SCALE = 100\n"
                               "import torch.nn.functional as F\nfrom os import *\n"
                               "from fractions import Fraction as math\nimport os\n"
                               "from decimal import Decimal as SCALE\nif True:\n    import csv\nSCALE = 3")
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == ["cell 1 ('import math') was changed"]
    # kept: the imports alone on their lines; `import os` binds `os` to os, as the given cell does
    assert restored.cells[0].source == ("import math\nimport os.path\nimport torch.nn.functional as F\n"
                                        "import os\n\nSCALE = 2")


def test_added_imports_in_a_given_cell_with_a_magic_are_read_line_by_line():
    skeleton = _skeleton_with_imports()
    skeleton.cells[0].source = "%matplotlib inline\nimport math\nSCALE = 2"
    student = copy.deepcopy(skeleton)
    student.cells[0].source = "%matplotlib inline\nimport math\nimport matplotlib.pyplot as plt\nSCALE = 2"
    restored, edited = restore_given_cells(student, skeleton)
    assert edited == [] and restored.cells[0].source == student.cells[0].source
