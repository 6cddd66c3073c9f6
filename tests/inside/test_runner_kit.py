"""The runner side of hidden tests: what it records, and that it records nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from grader.inside.runner_kit import to_data


def run_kit(tmp_path: Path, runner_text: str, module_text: str = "") -> dict:
    (tmp_path / "runner.py").write_text(runner_text)
    if module_text:
        (tmp_path / "student.py").write_text(module_text)
    subprocess.run([sys.executable, "-m", "grader.inside.runner_kit", "out.json", "runner.py"], cwd=tmp_path,
                   check=True, capture_output=True, timeout=60)
    return json.loads((tmp_path / "out.json").read_text())


def test_outputs_become_plain_json():
    import numpy as np

    assert to_data({"a": np.array([[1, 2], [3, 4]]), "b": 1.5, "c": True, "d": "x", "e": float("nan")}) == {
        "a": {"array": [1.0, 2.0, 3.0, 4.0], "shape": [2, 2]}, "b": 1.5, "c": True, "d": "x", "e": "nan"}
    assert to_data(object()) == "<object>"  # nothing that is not data is recorded as such


def test_each_case_is_recorded_with_its_outputs_or_its_error(tmp_path):
    runner = """
from grader.inside.runner_kit import case

@case
def adds():
    from student import add
    return {"sum": add(1, 2)}

@case
def fails():
    from student import broken
    return {"value": broken()}

@case
def exits():
    raise SystemExit(3)
"""
    module = "def add(a, b):\n    return a + b\n\ndef broken():\n    raise NotImplementedError('TODO')\n"
    out = run_kit(tmp_path, runner, module)
    assert out["runner::adds"] == {"outputs": {"sum": 3}}
    assert out["runner::fails"]["error"] == "NotImplementedError (student.py:5): TODO"
    assert out["runner::exits"]["error"].startswith("SystemExit")


def test_a_runner_that_cannot_load_fails_only_its_own_cases(tmp_path):
    out = run_kit(tmp_path, "from student import missing\n", "x = 1\n")
    assert list(out) == ["runner::*"]
    assert out["runner::*"]["error"].startswith("ImportError (runner.py:1): cannot import name 'missing'")


def test_every_case_starts_from_the_same_random_state(tmp_path):
    runner = """
import random
from grader.inside.runner_kit import case

@case
def first():
    return {"r": random.random()}

@case
def second():
    return {"r": random.random()}
"""
    out = run_kit(tmp_path, runner)
    assert out["runner::first"] == out["runner::second"]
