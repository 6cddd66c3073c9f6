"""`grader new`: a scaffolded assignment, in a course root that starts empty, passes `grader
validate` as generated (reference full marks, skeleton zero, its baseline its declared points,
skeleton in sync, calibration record agreeing with the rubric); as a .py assignment and as a notebook."""

from __future__ import annotations

import pytest

from grader.course import catalog, spec

from conftest import run_cli


@pytest.mark.parametrize("flags", [[], ["--notebook"]], ids=["py", "notebook"])
def test_a_new_assignment_validates_as_generated(tmp_path, flags):
    root = tmp_path / "course"
    root.mkdir()
    env = {"GRADER_CACHE": str(tmp_path / "cache")}
    made = run_cli("--root", str(root), "new", "demo_hw", *flags, "--seeds", "2", env=env, timeout=300)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert "demo_hw: ready in" in made.stdout
    assignment = catalog.load("demo_hw", root)
    assert catalog.list_ids(root) == ["demo_hw"]
    editable = "demo_hw.ipynb" if flags else "model.py"
    assert assignment.spec.editable == [editable]
    for name in [editable, "run.sh", "README.md"]:
        assert (assignment.solution_dir / name).is_file() and (assignment.skeleton_dir / name).is_file(), name
    assert (assignment.skeleton_dir / "requirements.txt").is_file()  # written by grader build, in no solution
    assert not (assignment.solution_dir / "requirements.txt").exists()
    assert "source" not in (assignment.skeleton_dir / "run.sh").read_text()  # the common part is inlined
    assert "BEGIN SOLUTION" in (assignment.solution_dir / editable).read_text()
    assert "NotImplementedError" in (assignment.skeleton_dir / editable).read_text()
    tests = [i for i in assignment.rubric.items if isinstance(i, spec.TestsItem)]
    assert tests and all(i.cases and i.runner is None for i in tests)
    assert not (assignment.folder / "hidden_tests").exists()

    checked = run_cli("--root", str(root), "validate", "demo_hw", "--backend", "local", env=env, timeout=300)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    for line in ["ok   skeleton in sync", "ok   calibration record", "ok   reference: 20/20", "ok   skeleton: 0/20",
                 "ok   baseline scores_negated: 4/20"]:
        assert f"demo_hw: {line}" in checked.stdout, checked.stdout[-3000:]


def test_new_refuses_a_taken_or_odd_id(tmp_path, tiny_root):
    taken = run_cli("--root", str(tiny_root), "new", "tiny")
    assert taken.returncode != 0 and "already exists" in taken.stderr
    assert (tiny_root / "rubrics" / "tiny.yaml").is_file()  # nothing of the course removed
    odd = run_cli("--root", str(tmp_path), "new", "Bad-Id")
    assert odd.returncode != 0 and "lower-case letters" in odd.stderr


def test_new_like_copies_an_assignment_under_a_new_id(tmp_path, tiny_root):
    """`grader new tiny2 --like tiny`: solution, assignment folder, rubric and calibration record
    copied under the new id, the skeleton built; its hidden tests validate as the original's do."""
    env = {"GRADER_CACHE": str(tmp_path / "cache")}
    made = run_cli("--root", str(tiny_root), "new", "tiny2", "--like", "tiny", env=env, timeout=120)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert "tiny2: ready in" in made.stdout
    copy, original = catalog.load("tiny2", tiny_root), catalog.load("tiny", tiny_root)
    assert copy.rubric.assignment == "tiny2" and len(copy.rubric.items) == len(original.rubric.items)
    assert copy.spec.baselines[0].name == "first_only"
    assert (copy.folder / "hidden_tests" / "net.py").is_file()
    assert (copy.skeleton_dir / "answer.py").is_file() and (copy.skeleton_dir / "requirements.txt").is_file()
    record = (copy.folder / "calibration.yaml").read_text()
    assert "assignment: tiny2" in record and "Copied from tiny's record" in record
    assert "tiny" in catalog.list_ids(tiny_root)  # the original stays

    checked = run_cli("--root", str(tiny_root), "validate", "tiny2", "--backend", "local", "--tests-only",
                      env=env, timeout=120)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert "tiny2: ok   hidden tests: baseline first_only" in checked.stdout

    again = run_cli("--root", str(tiny_root), "new", "tiny2", "--like", "tiny")
    assert again.returncode != 0 and "already exists" in again.stderr
    unknown = run_cli("--root", str(tiny_root), "new", "tiny3", "--like", "nope")
    assert unknown.returncode != 0 and not (tiny_root / "rubrics" / "tiny3.yaml").exists()
