"""Time that runs out is said once: a step stopped for running out of time skips the later steps
certain to import the same student file, and a submission's CPU and wall-clock budgets across
all its steps skip what is left once spent (issue 24)."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from grader.course import catalog
from grader.sandbox import LocalSandbox
from grader.steps.pipeline import grade_submission

from conftest import student_files, write_zip

LOOP_IN_MEAN = '"""Arithmetic mean."""\n    print("epoch 1 done", flush=True)\n    while True:\n        pass'
WRITE_VALUE = "import os\nos.makedirs('out', exist_ok=True)\nopen('out/value.txt', 'w').write('0.75')\n"
SCORE_PY = "print('Summary: ' + repr({'trusted_value': float(open('out/value.txt').read())}))\n"
# answer.py is imported only after code has run: the reading cannot be certain, so this step runs
LATE_PY = "print('starting')\nimport answer\nprint('Summary: ' + repr({'late_value': 1.0}))\n"


class Counting:
    """The local sandbox, remembering the logs of the steps it started."""

    def __init__(self):
        self.inner, self.name, self.started = LocalSandbox(), "local", []

    def python(self):
        return self.inner.python()

    def run(self, request):
        self.started.append(request.log_path.name)
        return self.inner.run(request)

    def cancel_all(self):
        self.inner.cancel_all()


def _course(root: Path, limits: dict, steps: list[dict] = ()) -> catalog.Assignment:
    """The tiny assignment with `limits` and extra `steps` after main: `again` (the same script,
    so certainly importing answer.py), `late` (LATE_PY), `score` (trusted, reads out/value.txt)."""
    skeleton = root / "skeleton" / "tiny"
    (skeleton / "score.py").write_text(SCORE_PY)
    (skeleton / "late.py").write_text(LATE_PY)
    spec_path = root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["limits"].update(limits)
    spec["experiments"] += list(steps)
    spec_path.write_text(yaml.safe_dump(spec))
    return catalog.load("tiny", root)


AGAIN = {"name": "again", "command": "{python} experiment.py --seed {seed}", "log": "again_log.txt"}
LATE = {"name": "late", "command": "{python} late.py", "log": "late_log.txt"}
SCORE = {"name": "score", "command": "{python} score.py", "log": "score_log.txt", "trusted": True,
         "inputs": ["out/*.txt"]}


def _grade(tmp_path: Path, assignment, answer_py: str, sandbox=None):
    files = student_files(assignment)
    files["answer.py"] = answer_py
    sandbox = sandbox or Counting()
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), assignment, sandbox, tmp_path / "out")
    return report, {i.id: i for i in report.items}, {r.name: r for r in report.runs}, sandbox


def test_a_loop_in_the_student_file_is_diagnosed_once(tmp_path, tiny_root):
    tiny = _course(tiny_root, {"cpu_seconds": 1}, [AGAIN, LATE, SCORE])
    answer = WRITE_VALUE + student_files(tiny)["answer.py"].replace('"""Arithmetic mean of a non-empty list."""',
                                                                    LOOP_IN_MEAN)
    report, items, runs, sandbox = _grade(tmp_path, tiny, answer)
    # main ran out of CPU in answer.py; `again` and the hidden tests certainly import it: not started.
    # `late` imports it only after code ran (not certain) and the trusted step imports no student code.
    assert sandbox.started == ["result_log.txt", "late_log.txt", "score_log.txt"]
    assert runs["main"].limit == "cpu" and runs["late"].outcome == "ok" and runs["score"].outcome == "ok"
    why = "skipped: main stopped at the CPU-time limit of 1 s ("
    assert runs["again"].outcome == "skipped" and runs["again"].stopped.startswith(why)
    assert runs["again"].stopped.endswith(", and this step imports answer.py too")
    for item in ("answer_tests", "params"):  # the items say why, naming the root cause
        assert items[item].status == "skipped" and items[item].message.startswith(why), items[item].message
    assert report.status == "timeout"
    assert report.message.startswith("timed out: main stopped at the CPU-time limit of 1 s")
    assert report.message.endswith(" | again, hidden tests not started")


def test_a_sleeping_student_file_costs_one_idle_interval(tmp_path, tiny_root):
    tiny = _course(tiny_root, {"wall_seconds": 1}, [AGAIN])
    started = time.monotonic()
    report, items, runs, sandbox = _grade(tmp_path, tiny,
                                          "import time\ntime.sleep(60)\n" + student_files(tiny)["answer.py"])
    assert sandbox.started == ["result_log.txt"] and runs["main"].limit == "idle"
    assert time.monotonic() - started < 20
    assert items["answer_tests"].message.startswith("skipped: main stopped as idle: no CPU used for 1 s")
    assert report.status == "timeout" and report.message.endswith(" | again, hidden tests not started")


def test_the_cpu_budget_of_the_submission_stops_the_step_that_spends_it(tmp_path, tiny_root):
    # each call of mean() burns 1.5 s of CPU: main (one call) fits, the hidden tests do not
    burn = ('"""Arithmetic mean."""\n    import time\n    t = time.process_time()\n'
            '    while time.process_time() - t < 1.5:\n        pass')
    tiny = _course(tiny_root, {"submission_cpu_seconds": 2.5})
    answer = student_files(tiny)["answer.py"].replace('"""Arithmetic mean of a non-empty list."""', burn)
    report, items, runs, sandbox = _grade(tmp_path, tiny, answer)
    assert runs["main"].outcome == "ok"
    assert report.status == "timeout"
    assert report.message.startswith("timed out: hidden tests stopped when the submission's CPU "
                                     "budget of 2.5 s was spent")


def test_the_wall_clock_budget_skips_the_steps_left(tmp_path, tiny_root):
    # main sleeps: its own idle interval is 30 s, the submission's budget stops it after 2
    tiny = _course(tiny_root, {"submission_wall_seconds": 2}, [LATE])
    started = time.monotonic()
    report, items, runs, sandbox = _grade(tmp_path, tiny,
                                          "import time\ntime.sleep(60)\n" + student_files(tiny)["answer.py"])
    assert time.monotonic() - started < 20
    assert sandbox.started == ["result_log.txt"]
    assert runs["main"].outcome.startswith("stopped when the submission's wall-clock budget of 2 s was spent")
    assert runs["late"].outcome == "skipped"
    assert runs["late"].stopped.startswith("skipped: the submission's wall-clock budget of 2 s is spent (")
    assert report.status == "timeout" and report.message.endswith(" | late, hidden tests not started")


def test_default_budgets_follow_the_step_limits_and_the_number_of_steps():
    from grader.course.spec import SandboxLimits

    limits = SandboxLimits(cpu_seconds=300)  # 2 cores: a 1500 s backstop, 6000 s ceiling, 300 s idle
    assert limits.idle_interval() == 300 and limits.wall_ceiling() == 6000
    assert limits.submission_budget(7) == (1200, 6000)
    assert limits.submission_budget(15) == (2400, 12000)
    assert SandboxLimits(cpu_seconds=20, wall_seconds=30).submission_budget(2) == (30, 120)
    assert SandboxLimits(submission_cpu_seconds=50, submission_wall_seconds=60).submission_budget(9) == (50, 60)
