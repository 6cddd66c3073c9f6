"""Forged hidden-test verdicts (tests/adversarial/): whatever student code writes or patches
in the hidden-test step, the checker compares recorded values with the reference's, which
never enter the sandbox. Every forgery built on the untouched skeleton scores 0."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from grader.course import catalog
from grader.steps.pipeline import grade_submission

from conftest import REPO, hidden_test_results, shipped_ids, student_files, write_zip

sys.path.insert(0, str(Path(__file__).parent))
import forgeries

FORGERIES = {"exit_handler": forgeries.EXIT_HANDLER, "patch_kit": forgeries.PATCH_KIT}
# Assignments whose editable files are Python (a notebook's forgeries have their own tests)
SCRIPT_ASSIGNMENTS = [a for a in shipped_ids()
                      if any(rel.endswith(".py") for rel in catalog.load(a, REPO).spec.editable)]


def test_the_script_assignments_include_the_shipped_three():
    assert {"colored_mnist", "channel_shift", "cnn_transfer"} <= set(SCRIPT_ASSIGNMENTS)


def _forged(assignment: catalog.Assignment, base: Path, code: str, dest: Path) -> Path:
    """The editable files of `base`, with `code` appended to every Python one."""
    dest.mkdir(parents=True)
    for rel in assignment.spec.editable:
        text = (base / rel).read_text()
        if rel.endswith(".py"):
            text += "\n" + code
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_verdicts_on_the_tiny_assignment_score_zero(tmp_path, tiny, sandbox, forgery):
    files = student_files(tiny, "skeleton")
    files["answer.py"] += "\n" + FORGERIES[forgery]
    report = grade_submission(write_zip(tmp_path / "20250042_ana.zip", files), tiny, sandbox, tmp_path / "out")
    items = {i.id: i for i in report.items}
    assert items["answer_tests"].points == 0 and items["params"].points == 0, items["answer_tests"].message


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
@pytest.mark.parametrize("assignment_id", SCRIPT_ASSIGNMENTS)
def test_forged_verdicts_on_the_skeleton_pass_no_hidden_test(tmp_path, assignment_id, forgery):
    assignment = catalog.load(assignment_id, REPO)
    student = _forged(assignment, assignment.skeleton_dir, FORGERIES[forgery], tmp_path / "student")
    results = hidden_test_results(assignment, student, tmp_path / "work")
    assert results and not any(results.values()), {k for k, v in results.items() if v}


@pytest.mark.docker
def test_the_reference_outputs_are_out_of_reach_in_docker(tmp_path, tiny_root):
    """In a container neither the grader's cache of expected outputs nor the held-out labels exist."""
    from grader.sandbox import make_sandbox

    tiny = catalog.load("tiny", tiny_root)
    sandbox = make_sandbox("docker")
    honest = grade_submission(write_zip(tmp_path / "20250041_ref.zip", student_files(tiny)), tiny, sandbox,
                              tmp_path / "out")
    files = student_files(tiny, "skeleton")
    files["answer.py"] += "\n" + forgeries.READ_EXPECTED + "\n" + forgeries.READ_HELDOUT
    report = grade_submission(write_zip(tmp_path / "20250042_ana.zip", files), tiny, sandbox, tmp_path / "out")
    items = {i.id: i for i in report.items}
    assert {i.id: i for i in honest.items}["answer_tests"].points == 3  # the expected outputs exist on the host
    assert items["answer_tests"].points == 0 and items["params"].points == 0
    log = (tmp_path / "out" / "20250042_ana" / "logs" / "result_log.txt").read_text()
    assert "held-out labels visible: False" in log
    shutil.rmtree(tmp_path / "out", ignore_errors=True)


def _one_restart_group_dro(root: Path) -> catalog.Assignment:
    """Colored MNIST cut to Group DRO with one restart, in a course copy (seconds, not minutes)."""
    import yaml

    for part in ("assignments", "rubrics", "solutions", "skeleton"):
        source = REPO / part / "colored_mnist"
        target = root / part / "colored_mnist"
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / part / "colored_mnist.yaml", root / part / "colored_mnist.yaml")
    spec_path = root / "assignments" / "colored_mnist" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["experiments"] = [e for e in spec["experiments"] if e["name"] in ("groupDRO-train", "evaluate")]
    for experiment in spec["experiments"]:
        experiment["command"] += " --restarts 1"
        experiment["scores"] = [dict(s, inputs=["weights/groupDRO_restart0.npz"])
                                for s in experiment.get("scores", []) if s["name"] == "groupDRO"]
        if not experiment["scores"]:
            del experiment["scores"]
    spec["required"] = ["model.py"]
    spec_path.write_text(yaml.safe_dump(spec))
    return catalog.load("colored_mnist", root)


@pytest.mark.slow
def test_training_on_the_rebuilt_test_environment_loses_the_item(tmp_path, sandbox):
    assignment = _one_restart_group_dro(tmp_path / "course")
    honest = {"model.py": (assignment.solution_dir / "model.py").read_text()}
    forged = {"model.py": (REPO / "tests" / "adversarial" / "colored_mnist" / "train_on_test" / "model.py").read_text()}
    reports = {name: grade_submission(write_zip(tmp_path / f"2026000{i}_{name}.zip", files), assignment, sandbox,
                                      tmp_path / "out")
               for i, (name, files) in enumerate({"honest": honest, "forged": forged}.items())}
    items = {name: {i.id: i for i in r.items}["groupdro_accuracy"] for name, r in reports.items()}
    assert items["honest"].points == 15, items["honest"].message
    assert items["forged"].value > 0.8  # the published test environment alone would give it full marks
    assert items["forged"].points == 0 and "held-out" in items["forged"].message
    assert any("does not generalise" in flag for flag in reports["forged"].flags)
