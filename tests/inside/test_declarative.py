"""Declared hidden tests (`cases:` in a rubric's tests item): the schema, the generic runner in
the sandbox (grader/inside/declarative.py) and the verdict: reference passes, skeleton fails, a
known-wrong implementation fails with its hint, and the inputs are the declaration's alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.commands.build import build
from grader.commands.handout import course_package, make_handout
from grader.course import catalog
from grader.course import spec as course_spec
from grader.course.spec import Rubric
from grader.errors import SpecError
from grader.inside.declarative import make_tensor
from grader.sandbox import LocalSandbox
from grader.steps import hidden_tests

from conftest import TINY

# The tiny fixture's answer.py with numpy imported and functions of its own for the declared cases.
SOLUTION = ("import numpy as np\n" + (TINY / "solutions" / "tiny" / "answer.py").read_text().rstrip("\n")
            + '''


def standardise(x):
    """Zero mean, unit (population) standard deviation, per column."""
    x = np.asarray(x, dtype=float)
    # BEGIN SOLUTION: subtract the column means, divide by the column standard deviations
    return (x - x.mean(axis=0)) / x.std(axis=0)
    # END SOLUTION


class Counter:
    """Keeps a running total of what it is given."""

    def __init__(self, start=0.0):
        self.total = start

    def add(self, values):
        # BEGIN SOLUTION: add the sum of the values to the total, return the new total
        self.total = self.total + float(np.sum(values))
        return self.total
        # END SOLUTION
''')

DECLARED_ITEM = {
    "id": "declared",
    "title": "Declared tests",
    "kind": "tests",
    "points": 4,
    "cases": [
        {"name": "standardise_columns", "call": "answer:standardise",
         "args": [{"tensor": [6, 3], "seed": 7, "lib": "numpy"}],
         "hint": "divide by the population standard deviation (ddof=0)", "weight": 2},
        {"name": "counter_keeps_its_total", "call": "answer:Counter", "kwargs": {"start": 1.0},
         "then": [{"method": "add", "args": [{"values": [1.0, 2.0], "lib": "numpy"}], "output": "first"},
                  {"method": "add", "args": [[3, 4]], "output": "second"}],
         "record": ["total"]},
        {"name": "mean_of_a_tensor", "call": "answer:mean", "args": [{"tensor": [5], "seed": 1, "dist": "uniform",
                                                                      "low": 2, "high": 3, "lib": "numpy"}],
         "rtol": 0.01},
    ],
}


@pytest.fixture
def declared_root(tmp_path: Path) -> Path:
    """The tiny course with a declared tests item beside its runner files (numpy inputs: torch does
    not load under the tiny assignment's 1 GB address-space limit)."""
    root = tmp_path / "course"
    shutil.copytree(TINY, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "solutions" / "tiny" / "answer.py").write_text(SOLUTION)
    rubric = yaml.safe_load((root / "rubrics" / "tiny.yaml").read_text())
    rubric["items"].append(DECLARED_ITEM)
    (root / "rubrics" / "tiny.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    build(catalog.load("tiny", root))
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(hidden_tests.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def declared_outcome(assignment: catalog.Assignment, answer_text: str, work: Path):
    """The declared item's outcome against a student's answer.py."""
    shutil.copytree(assignment.skeleton_dir, work)
    (work / "answer.py").write_text(answer_text)
    sandbox = LocalSandbox()
    expected = hidden_tests.expected_outputs(assignment, sandbox)
    run = hidden_tests.run_step(assignment, work, sandbox, assignment.spec.limits)
    item = next(i for i in assignment.rubric.items if i.id == "declared")
    return hidden_tests.check_tests([item], assignment, run, expected)["declared"]


def outcomes(assignment: catalog.Assignment, answer_text: str, work: Path) -> dict[str, tuple[bool, str]]:
    """{case: (passed, message)} of the declared item."""
    return {c.name: (c.passed, c.message) for c in declared_outcome(assignment, answer_text, work).cases}


def test_reference_passes_and_skeleton_fails_the_declared_cases(tmp_path, declared_root):
    tiny = catalog.load("tiny", declared_root)
    reference = outcomes(tiny, (tiny.solution_dir / "answer.py").read_text(), tmp_path / "ref")
    assert reference == {"standardise_columns": (True, ""), "counter_keeps_its_total": (True, ""),
                         "mean_of_a_tensor": (True, "")}
    skeleton = outcomes(tiny, (tiny.skeleton_dir / "answer.py").read_text(), tmp_path / "skel")
    assert set(skeleton) == set(reference) and not any(ok for ok, _ in skeleton.values())
    assert all("raised NotImplementedError" in message for _, message in skeleton.values())


def test_a_wrong_implementation_fails_with_its_hint_and_weighs_as_declared(tmp_path, declared_root):
    from grader.verdict.evidence import Evidence
    from grader.verdict.score import score

    tiny = catalog.load("tiny", declared_root)
    wrong = (tiny.solution_dir / "answer.py").read_text().replace("x.std(axis=0)", "x.std(axis=0, ddof=1)")
    outcome = declared_outcome(tiny, wrong, tmp_path / "wrong")
    got = {c.name: (c.passed, c.message) for c in outcome.cases}
    passed, message = got["standardise_columns"]
    assert not passed and message.endswith("(divide by the population standard deviation (ddof=0))"), message
    assert got["counter_keeps_its_total"] == (True, "") and got["mean_of_a_tensor"] == (True, "")
    item = next(i for i in tiny.rubric.items if i.id == "declared")
    assert item.case_tolerance("mean_of_a_tensor") == (0.01, item.atol)
    result = score(tiny.rubric, None, Evidence(tests={"declared": outcome}))
    assert next(i for i in result.items if i.id == "declared").points == 2  # weight 2 of 4 lost: half of 4 points


def test_declared_inputs_are_the_declarations_alone(tmp_path):
    """Whatever the student's code does to the global random state or to its arguments, every
    call gets the same inputs: each is built from its declaration, afresh, with its own generator."""
    runner = ("from grader.inside.declarative import register\n"
              "spec = {'tensor': [3, 2], 'seed': 5}\n"
              "register([{'name': 'a', 'call': 'student:echo', 'args': [spec]},\n"
              "          {'name': 'b', 'call': 'student:Box', 'then': [\n"
              "              {'method': 'echo', 'args': [spec], 'output': 'first'},\n"
              "              {'method': 'echo', 'args': [spec], 'output': 'second'}]}])\n")
    honest = ("def echo(x):\n    return x.clone() if hasattr(x, 'clone') else x.copy()\n\n"
              "class Box:\n    echo = staticmethod(echo)\n")
    meddling = ("import random\nimport numpy as np\nimport torch\n"
                "random.seed(1); np.random.seed(2); torch.manual_seed(3); torch.rand(100); np.random.rand(100)\n"
                "def echo(x):\n    kept = x.clone()\n    torch.manual_seed(99)\n    x.mul_(0)\n    return kept\n\n"
                "class Box:\n    echo = staticmethod(echo)\n")
    recorded = []
    for name, module in (("honest", honest), ("meddling", meddling)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "runner.py").write_text(runner)
        (folder / "student.py").write_text(module)
        subprocess.run([sys.executable, "-m", "grader.inside.runner_kit", "out.json", "runner.py"], cwd=folder,
                       check=True, capture_output=True, timeout=120)
        recorded.append(json.loads((folder / "out.json").read_text()))
    assert recorded[0] == recorded[1]
    a = recorded[0]["runner::a"]["outputs"]["result"]
    assert a["shape"] == [3, 2] and recorded[0]["runner::b"]["outputs"] == {"first": a, "second": a}


def test_tensors_are_made_from_their_seed_with_torch_or_numpy():
    import numpy as np
    import torch

    torch.manual_seed(0)
    first = make_tensor({"tensor": [4], "seed": 3})
    torch.manual_seed(1)
    assert torch.equal(first, make_tensor({"tensor": [4], "seed": 3})) and first.dtype == torch.float32
    assert not torch.equal(first, make_tensor({"tensor": [4], "seed": 4}))
    ints = make_tensor({"tensor": [50], "dist": "integers", "low": 0, "high": 3, "seed": 1})
    assert ints.dtype == torch.int64 and set(ints.tolist()) == {0, 1, 2}
    assert make_tensor({"values": [1.0, 2.0], "requires_grad": True}).requires_grad
    drawn = make_tensor({"tensor": [2, 2], "seed": 3, "lib": "numpy", "dtype": "float64"})
    assert drawn.dtype == np.float64 and np.array_equal(drawn, make_tensor({"tensor": [2, 2], "seed": 3, "lib": "numpy",
                                                                            "dtype": "float64"}))


def _item(**case) -> dict:
    return {"id": "t", "title": "T", "kind": "tests", "points": 1, "cases": [{"name": "c", "call": "m:f", **case}]}


@pytest.mark.parametrize("item,problem", [
    (_item(extra=1), "Extra inputs are not permitted"),
    (_item(args=[{"tensor": [2], "sede": 1}]), "Extra inputs are not permitted"),
    (_item(args=[{"tensor": [2], "values": [1, 2]}]), "give either tensor (a shape) or values"),
    (_item(args=[{"tensor": [2], "dtype": "float16"}]), "Input should be 'float32'"),
    (_item(call="not a target"), "String should match pattern"),
    (_item(then=[{"method": "m", "output": "x"}], record=["x"]), "an output name is used twice"),
    ({"id": "t", "title": "T", "kind": "tests", "points": 1}, "give a runner file, cases, or both"),
    ({**_item(weight=2), "weights": {"c": 1}}, "has a weight in both weights and cases"),
])
def test_the_schema_is_strict(item, problem):
    with pytest.raises(Exception, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Rubric.model_validate({"assignment": "x", "items": [item]})


def test_a_case_must_call_an_editable_file_and_own_its_prefix(declared_root):
    path = declared_root / "rubrics" / "tiny.yaml"
    rubric = yaml.safe_load(path.read_text())
    rubric["items"][-1]["cases"][0]["call"] = "experiment:mean"
    path.write_text(yaml.safe_dump(rubric))
    with pytest.raises(SpecError, match="experiment.py is not an editable file"):
        catalog.load("tiny", declared_root)
    rubric["items"][-1]["cases"][0]["call"] = "answer:mean"
    rubric["items"][-1]["id"] = "net"  # the param_count item's runner is hidden_tests/net.py
    path.write_text(yaml.safe_dump(rubric))
    with pytest.raises(SpecError, match="share the prefix 'net'"):
        catalog.load("tiny", declared_root)


def test_the_handout_rubric_keeps_declared_inputs_hidden(tmp_path, declared_root):
    tiny = catalog.load("tiny", declared_root)
    dest = make_handout(tiny, tmp_path / "handout")
    public = (dest / "rubric.yaml").read_text()
    assert "seed: 7" not in public and "standardise" in public and "cases" not in public
    item = next(i for i in Rubric.model_validate(yaml.safe_load(public)).items if i.id == "declared")
    assert isinstance(item, course_spec.TestsItem) and item.runner == "hidden_tests/declared.py"
    assert item.weights == {"standardise_columns": 2, "counter_keeps_its_total": 1, "mean_of_a_tensor": 1}
    tool_course = dest / "grader-tool" / "course" / course_package("tiny")
    assert catalog.load("tiny", tool_course).rubric.items[-1].stem == "declared"


def test_a_broken_module_fails_every_declared_case_without_running_them(tmp_path, declared_root):
    """fail_fast's reading covers declared cases: each imports its module file first, so a file
    that does not compile fails every case, in the words the runner itself would record."""
    from grader.steps.fail_fast import broken_files

    tiny = catalog.load("tiny", declared_root)
    work = tmp_path / "ws"
    shutil.copytree(tiny.skeleton_dir, work)
    (work / "answer.py").write_text("def mean(values:\n    return 0\n")
    predicted = hidden_tests.certain_records(tiny, work, broken_files(work, tiny.spec.editable))
    ran = hidden_tests.run_step(tiny, work, LocalSandbox(), tiny.spec.limits)
    declared = {key: error for key, error in (predicted or {}).items() if key.startswith("declared::")}
    assert len(declared) == 3
    assert {key: ran.records[key].error for key in declared} == declared
