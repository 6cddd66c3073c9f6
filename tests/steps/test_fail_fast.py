"""Fail fast (grader/steps/fail_fast.py): a submission whose editable code does not compile is
graded without starting the steps that would only die importing it, and its report says what a
full run's report says."""

import zipfile
from pathlib import Path

import pytest

import grader.reports.report as report_text
import grader.steps.pipeline as pipeline
from grader.course import catalog
from grader.sandbox.image import BASE_TAG, IMAGE_PYTHON
from grader.steps import hidden_tests
from grader.steps.fail_fast import (
    broken_files,
    hidden_tests_records,
    notebook_reaches,
    notebook_stops,
    same_python,
    step_reaches,
)
from grader.steps.pipeline import grade_submission

from conftest import notebook_submission, student_files, write_zip

BROKEN = "def mean(values):\n    return (\n"


class Counting:
    """A sandbox that counts (and names) the commands it starts."""

    def __init__(self, inner):
        self.inner, self.name, self.started = inner, inner.name, []

    def python(self):
        return self.inner.python()

    def run(self, request):
        self.started.append(request.argv)
        return self.inner.run(request)

    def cancel_all(self):
        self.inner.cancel_all()


def outcome(report):
    return (report.status, report.score, [(i.id, i.status, i.points) for i in report.items], report.cause)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))


def graded_both_ways(tmp_path, assignment, sandbox, files, monkeypatch):
    """(report with fail fast, its sandbox's commands, report of the full run as before)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    hidden_tests.expected_outputs(assignment, sandbox)  # the reference's outputs: once per course build
    counting = Counting(sandbox)
    fast = grade_submission(write_zip(tmp_path / "1_a.zip", files), assignment, counting, tmp_path / "fast")
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "same_python", lambda name: False)
        full = grade_submission(write_zip(tmp_path / "1_a.zip", files), assignment, sandbox, tmp_path / "full")
    return fast, counting.started, full


def test_a_syntax_error_is_graded_without_starting_a_step(tmp_path, tiny, sandbox, cache, monkeypatch):
    files = {**student_files(tiny), "answer.py": BROKEN}
    fast, started, full = graded_both_ways(tmp_path, tiny, sandbox, files, monkeypatch)
    assert started == []
    assert outcome(fast) == outcome(full)
    assert fast.cause == "answer.py:2 SyntaxError: '(' was never closed, every experiment failed"
    by_id = {i.id: i for i in fast.items}
    assert by_id["answer_tests"].message == {i.id: i for i in full.items}["answer_tests"].message
    assert "raised SyntaxError (answer.py:2): '(' was never closed" in by_id["answer_tests"].message
    assert "building Net(width=3) raised SyntaxError (answer.py:2)" in by_id["params"].message
    assert "not started: answer.py does not compile: SyntaxError: '(' was never closed" in by_id["accuracy"].message
    assert fast.runs[0].outcome == "not started: answer.py does not compile" and fast.runs[0].seconds == 0
    log = (tmp_path / "fast" / "1_a" / "logs" / "result_log.txt").read_text()
    assert 'File "answer.py", line 2' in log and log.endswith("SyntaxError: '(' was never closed\n")


def test_a_runner_that_imports_the_broken_file_at_load_records_what_runner_kit_would(
        tmp_path, tiny_root, sandbox, cache, monkeypatch):
    runner = tiny_root / "assignments" / "tiny" / "hidden_tests" / "net.py"
    runner.write_text(runner.read_text().replace("from grader.inside.runner_kit import case\n",
                                                 "from grader.inside.runner_kit import case\nfrom answer import Net\n"))
    assignment = catalog.load("tiny", tiny_root)
    files = {**student_files(assignment), "answer.py": BROKEN}
    fast, started, full = graded_both_ways(tmp_path, assignment, sandbox, files, monkeypatch)
    assert started == [] and outcome(fast) == outcome(full)
    assert [i.message for i in fast.items] == [i.message.replace("exit code 1",
                                                                 "not started: answer.py does not compile")
                                               for i in full.items]


def points(report):
    return report.status, report.score, [(i.id, i.status, i.points) for i in report.items]


def notebook_graded_both_ways(tmp_path, tiny_nb_root, sandbox, monkeypatch, edit):
    """graded_both_ways for the tiny notebook assignment's reference with one edit."""
    monkeypatch.setenv("GRADER_DATA", str(tmp_path / "data"))
    tiny_nb = catalog.load("tiny_nb", tiny_nb_root)
    source = notebook_submission(tmp_path, tiny_nb, edit)
    files = {"tiny.ipynb": zipfile.ZipFile(source).read("tiny.ipynb").decode()}
    return graded_both_ways(tmp_path, tiny_nb, sandbox, files, monkeypatch)


def test_a_notebook_that_stops_at_its_first_cell_is_not_started(tmp_path, tiny_nb_root, sandbox, cache, monkeypatch):
    fast, started, full = notebook_graded_both_ways(tmp_path, tiny_nb_root, sandbox, monkeypatch, (
        "return sum(values) / len(values)", "return sum(values / len(values)"))
    assert not [argv for argv in started if "grader.inside.runner_kit" in argv or "grader.inside.notebook" in argv]
    assert points(fast) == points(full)
    stop = "Notebook stopped: cell 2 ('def mean(values):') raised SyntaxError: incomplete input"  # IPython's words
    assert full.runs[0].stopped.startswith(f"{stop} (")  # the executor's line, naming a file of the kernel's
    assert fast.runs[0].stopped == f"{stop} (tiny.ipynb[cell 2], line 2)"
    assert fast.runs[0].outcome == "not started: tiny.ipynb[cell 2] does not compile"
    assert fast.cause.startswith("notebook: tiny.ipynb[cell 2]:2 SyntaxError: incomplete input; ")
    first = next(i for i in fast.items if i.id == "first").message
    assert "the run failed (not started: tiny.ipynb[cell 2] does not compile: " + stop in first
    log = (tmp_path / "fast" / "1_a" / "logs" / "nb_log.txt").read_text()
    assert 'File "tiny.ipynb[cell 2]", line 2' in log and log.endswith(f"{stop} (tiny.ipynb[cell 2], line 2)\n")
    assert "SyntaxError (tiny.ipynb[functions cells]:" in next(i for i in fast.items if i.id == "tests").message


def test_a_notebook_with_the_students_code_before_the_broken_cell_runs(
        tmp_path, tiny_nb_root, sandbox, cache, monkeypatch):
    fast, started, full = notebook_graded_both_ways(tmp_path, tiny_nb_root, sandbox, monkeypatch, (
        "results['second'] = mean([2, 4])", "results['second'] = mean([2, 4]"))
    assert any("grader.inside.notebook" in argv for argv in started)  # graded on what it produced, as before
    assert outcome(fast) == outcome(full)
    assert [i.message for i in fast.items] == [i.message for i in full.items]
    assert next(i for i in fast.items if i.id == "first").points == 2  # printed before the broken cell


def test_a_notebook_is_certain_to_stop_only_after_the_skeletons_given_definitions(tmp_path):
    import nbformat

    def notebook(path, *cells):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# nb")] + [
            nbformat.v4.new_code_cell(src, metadata={"tags": ["functions"]} if tagged else {}) for src, tagged in cells]
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))

    given, work = ("import math\nK = math.pi", True), ("print(K)", False)
    todo = ("def f():\n    raise NotImplementedError('TODO (nb.ipynb): f')", True)
    notebook(tmp_path / "skeleton" / "nb.ipynb", given, todo, work)
    cases = {"after_definitions": [given, ("", False), ("def f(:\n    pass", True), work],
             "first": [("def f(:", True)],
             "indented": [("    x = 1\n    y = x", False)],  # IPython takes each of these three, Python does not
             "awaits": [("await something()", False)],
             "magic": [("%time def f(:", True)],
             "after_work": [given, work, ("def f(:", True)],
             "after_students": [given, ("def f():\n    return 1", True), ("x = (", False)],
             "all_compile": [given, ("def f():\n    return 1", True), work]}
    for name, cells in cases.items():
        notebook(tmp_path / name / "nb.ipynb", *cells)
    stops = {name: notebook_stops(tmp_path / name, ["nb.ipynb"], tmp_path / "skeleton") for name in cases}
    stop = stops["after_definitions"]["nb.ipynb"]
    assert (stop.filename, stop.line, stop.kind) == ("nb.ipynb[cell 4]", 1, "SyntaxError")
    assert stop.stop == ("Notebook stopped: cell 4 ('def f(:') raised SyntaxError: invalid syntax "
                         "(nb.ipynb[cell 4], line 1)")
    assert stops["first"]["nb.ipynb"].stop.startswith("Notebook stopped: cell 2 ('def f(:') raised SyntaxError")
    for name in ("indented", "awaits", "magic", "after_work", "after_students", "all_compile"):
        assert stops[name] == {}, name
    argv = ["python", "-u", "-m", "grader.inside.notebook", "execute", "nb.ipynb", "--output", "x.ipynb"]
    assert notebook_reaches(stops["after_definitions"], argv) is stop
    assert notebook_reaches(stops["after_definitions"], ["python", "nb.py"]) is None


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def test_only_steps_certain_to_import_the_broken_file_are_skipped(tmp_path):
    ws = write(tmp_path, {"model.py": "def f(:\n", "helpers.py": "import model\n", "fine.py": "x = 1\n",
                          "train.py": '"""Trains."""\nimport os\nimport helpers\n',
                          "late.py": "import sys\nsys.exit(3)\nimport model\n",
                          "lazy.py": "def main():\n    import model\n",
                          "unknown.py": "import not_a_module_anywhere\nimport model\n",
                          "other.py": "import fine\n"})
    broken = broken_files(ws, ["model.py", "fine.py", "train.py"])
    assert list(broken) == ["model.py"] and broken["model.py"].site == "model.py:1 SyntaxError: invalid syntax"
    assert step_reaches(ws, broken, ["python", "train.py", "--seed", "1"]) is broken["model.py"]
    assert step_reaches(ws, broken, ["python", "-u", "-m", "helpers"]) is broken["model.py"]
    assert step_reaches(ws, broken, ["python", "model.py"]) is broken["model.py"]
    for script in ("late.py", "lazy.py", "unknown.py", "other.py", "missing.py"):
        assert step_reaches(ws, broken, ["python", script]) is None, script
    assert step_reaches(ws, broken, ["python", "-m", "grader.inside.notebook", "execute", "x.ipynb"]) is None


def test_a_scripts_main_block_is_followed_to_the_imports_it_certainly_makes_first(tmp_path):
    main = '\n\nif __name__ == "__main__":\n    main()\n'
    ws = write(tmp_path, {"model.py": "def f(:\n", "helpers.py": "import model\n", "fine.py": "x = 1\n",
                          "first.py": '"""Doc."""\nimport os\n\nSTEPS, LR = 3, 0.1\n\n\n'
                                      'def main():\n    """Doc."""\n    import model\n    print(os.sep)' + main,
                          "exits.py": "import sys\n\n\ndef main():\n    from helpers import x\n    return 0\n\n\n"
                                      'if __name__ == "__main__":\n    sys.exit(main())\n',
                          "nested.py": "def train(steps=3):\n    import fine\n    import model\n\n\n"
                                       "def main():\n    train()\n    print('done')" + main,
                          "in_block.py": 'import fine\n\nif "__main__" == __name__:\n    import model\n',
                          "reversed.py": "import fine\n\nif __name__ != '__main__':\n    import model\n",
                          "work_first.py": "import sys\n\n\ndef main():\n    args = sys.argv[1:]\n"
                                           "    import model\n    print(args)" + main,
                          "after_data.py": "def train(data):\n    import model\n\n\n"
                                           "def main():\n    train(load())" + main,
                          "conditional.py": "import os\n\n\ndef main():\n    if os.environ.get('X'):\n"
                                            "        import model" + main,
                          "shadowed.py": "def run():\n    import model\n\n\ndef main():\n    run()\n"
                                         "    run = 3\n    return run" + main,
                          "decorated.py": "import functools\n\n\n@functools.cache\ndef main():\n"
                                          "    import model" + main,
                          "arguments.py": "def main(args):\n    import model" + main,
                          "default_call.py": "def f(x=len([])):\n    pass\n\n\nimport model\n",
                          "imports_first.py": "import first\n"})
    broken = broken_files(ws, ["model.py"])
    for script in ("first.py", "exits.py", "nested.py", "in_block.py"):
        assert step_reaches(ws, broken, ["python", script]) is broken["model.py"], script
    assert step_reaches(ws, broken, ["python", "-m", "first", "--seed", "1"]) is broken["model.py"]
    for script in ("reversed.py", "work_first.py", "after_data.py", "conditional.py", "shadowed.py", "decorated.py",
                   "arguments.py", "default_call.py", "imports_first.py"):  # imported, first.py's block does not run
        assert step_reaches(ws, broken, ["python", script]) is None, script


def test_a_given_script_that_imports_the_broken_file_first_thing_in_main_is_not_started(
        tmp_path, tiny_root, sandbox, cache, monkeypatch):
    script = tiny_root / "skeleton" / "tiny" / "experiment.py"
    body = ('    p = argparse.ArgumentParser()\n    p.add_argument("--seed", type=int, required=True)\n'
            '    args = p.parse_args()\n{late}'
            '    print("Summary: " + repr({{"Accuracy_testmean": round(mean([0.8, 0.9, 1.0]), 6), '
            '"Accuracy_teststd": 0.0}}))\n\n\nif __name__ == "__main__":\n    main()\n')
    script.write_text("import argparse\n\n\ndef main():\n    from answer import mean\n\n" + body.format(late=""))
    assignment = catalog.load("tiny", tiny_root)
    files = {**student_files(assignment), "answer.py": BROKEN}
    fast, started, full = graded_both_ways(tmp_path / "first", assignment, sandbox, files, monkeypatch)
    assert started == [] and outcome(fast) == outcome(full)
    assert fast.runs[0].outcome == "not started: answer.py does not compile"
    assert fast.cause == "answer.py:2 SyntaxError: '(' was never closed, every experiment failed"

    # imported only when the seed is not negative: not certain, so it runs as before
    script.write_text("import argparse\n\n\ndef main():\n"
                      + body.format(late="    if args.seed >= 0:\n        from answer import mean\n"))
    fast, started, full = graded_both_ways(tmp_path / "conditional", assignment, sandbox, files, monkeypatch)
    assert [argv[1] for argv in started] == ["experiment.py"] and outcome(fast) == outcome(full)
    assert fast.runs[0].outcome == "exit code 1"


def test_a_step_needed_only_by_steps_that_do_not_start_is_not_started_either(
        tmp_path, tiny_root, sandbox, cache, monkeypatch):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace(
        "experiments:\n", "experiments:\n  - name: prepare\n    command: \"{python} prepare.py\"\n"
                          "    log: prepare_log.txt\n", 1).replace(
        "    log: result_log.txt\n", "    log: result_log.txt\n    needs: [prepare]\n", 1))
    (tiny_root / "skeleton" / "tiny" / "prepare.py").write_text("open('prepared.txt', 'w').write('1')\nprint('ok')\n")
    assignment = catalog.load("tiny", tiny_root)
    files = {**student_files(assignment), "answer.py": BROKEN}
    fast, started, full = graded_both_ways(tmp_path / "alone", assignment, sandbox, files, monkeypatch)
    assert started == []
    assert outcome(fast) == outcome(full) and report_text.status_text(fast) == report_text.status_text(full)
    assert fast.cause == "answer.py:2 SyntaxError: '(' was never closed, main failed"  # prepare did not fail
    prepare = fast.runs[0]
    assert prepare.outcome == "not needed" and prepare.exit_code is None
    assert prepare.stopped == "not started: nothing after it starts (main: answer.py does not compile)"
    assert [r.outcome for r in full.runs] == ["ok", "exit code 1"]

    # a later step that may start (it imports nothing of the student's) could read what prepare makes
    text = spec.read_text().replace("limits:\n", "  - name: other\n    command: \"{python} prepare.py\"\n"
                                                 "    log: other_log.txt\nlimits:\n", 1)
    spec.write_text(text)
    assignment = catalog.load("tiny", tiny_root)
    fast, started, full = graded_both_ways(tmp_path / "other", assignment, sandbox, files, monkeypatch)
    assert [argv[1] for argv in started] == ["prepare.py", "prepare.py"] and outcome(fast) == outcome(full)


def test_a_scoring_step_whose_every_model_needs_a_step_that_does_not_start_does_not_keep_prepare_running(
        tmp_path, tiny_root, sandbox, cache, monkeypatch):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    scoring = ("  - name: scoring\n    command: \"{python} prepare.py {scores}\"\n    log: scoring_log.txt\n"
               "    trusted: true\n    scores:\n      - {name: s, model: m, log: s_log.txt, inputs: [prepared.txt], "
               "needs: [%s]}\nlimits:\n")
    spec.write_text(spec.read_text().replace(
        "experiments:\n", "experiments:\n  - name: prepare\n    command: \"{python} prepare.py\"\n"
                          "    log: prepare_log.txt\n", 1).replace(
        "    log: result_log.txt\n", "    log: result_log.txt\n    needs: [prepare]\n", 1))
    (tiny_root / "skeleton" / "tiny" / "prepare.py").write_text("open('prepared.txt', 'w').write('1')\nprint('ok')\n")
    base = spec.read_text()
    files = {**student_files(catalog.load("tiny", tiny_root)), "answer.py": BROKEN}
    spec.write_text(base.replace("limits:\n", scoring % "main", 1))
    fast, started, _ = graded_both_ways(tmp_path / "dead", catalog.load("tiny", tiny_root), sandbox, files,
                                        monkeypatch)
    assert started == [] and fast.runs[0].outcome == "not needed"
    spec.write_text(base.replace("limits:\n", scoring % "prepare", 1))  # its model reads what prepare makes
    fast, started, _ = graded_both_ways(tmp_path / "alive", catalog.load("tiny", tiny_root), sandbox, files,
                                        monkeypatch)
    assert fast.runs[0].outcome == "ok" and [argv[1] for argv in started][:1] == ["prepare.py"]


def test_hidden_tests_are_skipped_only_when_every_case_dies_on_the_broken_file(tmp_path):
    ws = write(tmp_path, {"model.py": "def f(:\n", "fine.py": "def g():\n    return 1\n"})
    broken = broken_files(ws, ["model.py", "fine.py"])
    head = ("import torch\nfrom grader.inside.runner_kit import case\n\n"
            "G = torch.zeros(2)  # a library call, as in the reference's run\n")
    helper = "def _build():\n    from model import f\n    return f\n\n"
    every = head + helper + "@case\ndef a():\n    from model import f\n    return {'x': f()}\n\n" \
        "@case\ndef b():\n    x = torch.zeros(2)\n    return {'x': _build()(x)}\n"
    records = hidden_tests_records(ws, broken, {"hidden_tests/r.py": every.encode()})
    assert records == {"r::a": "SyntaxError (model.py:1): invalid syntax",
                       "r::b": "SyntaxError (model.py:1): invalid syntax"}
    at_load = "from model import f\n" + head + "@case\ndef a():\n    return {}\n"
    assert (hidden_tests_records(ws, broken, {"r.py": at_load.encode()})
            == {"r::*": "SyntaxError (model.py:1): invalid syntax"})
    one_runs = every + "\n@case\ndef c():\n    from fine import g\n    return {'x': g()}\n"
    assert hidden_tests_records(ws, broken, {"r.py": one_runs.encode()}) is None
    student_first = head + "@case\ndef a():\n    from fine import g\n    g()\n    from model import f\n    return {}\n"
    assert hidden_tests_records(ws, broken, {"r.py": student_first.encode()}) is None  # g() may raise first
    branching = head + ("@case\ndef a():\n    if torch.cuda.is_available():\n        from model import f\n"
                        "    return {}\n")
    assert hidden_tests_records(ws, broken, {"r.py": branching.encode()}) is None
    assert hidden_tests_records(ws, {}, {"r.py": every.encode()}) is None
    student_at_load = "import fine\nX = fine.g()\n" + every
    assert hidden_tests_records(ws, broken, {"r.py": student_at_load.encode()}) is None


def test_the_compile_speaks_for_the_sandboxs_python_only():
    import sys

    assert same_python("local")
    assert same_python("docker") == (sys.version_info[:2] == IMAGE_PYTHON)
    assert not same_python("some-other-backend")
    assert "bookworm" in BASE_TAG and IMAGE_PYTHON == (3, 11)  # Debian bookworm's python3
