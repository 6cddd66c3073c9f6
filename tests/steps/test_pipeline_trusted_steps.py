"""Trusted steps: a fresh copy of the given files, only declared data files copied in, the
secret seed and the held-out data for them alone; their log is the grader's own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.course import catalog
from grader.errors import SpecError
from grader.steps.pipeline import grade_submission

from conftest import student_files, write_zip

SCORE_PY = '''
import json, os, sys
secret = int(sys.argv[1])  # never printed: the log reaches the student
planted = [name for name in ("sitecustomize.py", "json.py", "helper.pth", "conftest.py") if os.path.exists(name)]
given = open("score_helper.py").read().strip()
value = float(open("out/value.txt").read())
print("Summary: " + repr({"trusted_value": value, "planted": len(planted), "given_intact": float(given == "GIVEN"),
                          "secret_is_int": 1.0}))
'''


def _course(tiny_root: Path) -> catalog.Assignment:
    """The tiny assignment plus a trusted step that scores out/value.txt, written by the student's run."""
    skeleton = tiny_root / "skeleton" / "tiny"
    (skeleton / "score.py").write_text(SCORE_PY)
    (skeleton / "score_helper.py").write_text("GIVEN\n")
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["experiments"].append({"name": "score", "command": "{python} score.py {secret_seed}", "log": "score_log.txt",
                                "trusted": True, "inputs": ["out/*.txt"]})
    spec_path.write_text(yaml.safe_dump(spec))
    rubric_path = tiny_root / "rubrics" / "tiny.yaml"
    rubric = yaml.safe_load(rubric_path.read_text())
    rubric["items"].append({"id": "trusted", "title": "Trusted value", "kind": "metric", "log": "score_log.txt",
                            "key": "trusted_value", "tiers": [{"op": ">=", "threshold": 0.5, "points": 1}]})
    rubric_path.write_text(yaml.safe_dump(rubric))
    return catalog.load("tiny", tiny_root)


def _grade(tmp_path, assignment, sandbox, prelude: str):
    files = student_files(assignment)
    files["answer.py"] = prelude + "\n" + files["answer.py"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    z = write_zip(tmp_path / "20250042_ana.zip", files)
    report = grade_submission(z, assignment, sandbox, tmp_path / "out")
    return report, {i.id: i for i in report.items}


WRITE_VALUE = "import os\nos.makedirs('out', exist_ok=True)\nopen('out/value.txt', 'w').write('0.75')\n"


def test_the_trusted_step_scores_the_exported_data(tmp_path, tiny_root, sandbox):
    assignment = _course(tiny_root)
    report, items = _grade(tmp_path, assignment, sandbox, WRITE_VALUE)
    assert items["trusted"].value == 0.75 and items["trusted"].points == 1
    assert "no code of yours ran" in items["trusted"].computed_by
    assert items["accuracy"].computed_by == "from the Summary your run printed"


def test_nothing_a_student_step_plants_reaches_the_trusted_step(tmp_path, tiny_root, sandbox):
    assignment = _course(tiny_root)
    plant = WRITE_VALUE + (
        "for name in ('sitecustomize.py', 'json.py', 'conftest.py'):\n"
        "    open(name, 'w').write('raise SystemExit(0)')\n"
        "open('helper.pth', 'w').write('import os')\n"
        "open('score_helper.py', 'w').write('FORGED')\n"  # a given file rewritten
        "open('score.py', 'w').write('print(\"Summary: {\\'trusted_value\\': 99.0}\")')\n")
    report, items = _grade(tmp_path, assignment, sandbox, plant)
    log = (tmp_path / "out" / "20250042_ana" / "logs" / "score_log.txt").read_text()
    assert items["trusted"].value == 0.75, log
    summary = log.strip().splitlines()[-1]
    assert "'planted': 0" in summary and "'given_intact': 1.0" in summary


def test_missing_or_linked_inputs_skip_the_step_with_the_reason(tmp_path, tiny_root, sandbox):
    assignment = _course(tiny_root)
    _, items = _grade(tmp_path / "a", assignment, sandbox, "")
    assert items["trusted"].points == 0 and "skipped: its input out/*.txt was not produced" in items["trusted"].message
    link = ("import os\nos.makedirs('out', exist_ok=True)\n"
            "os.path.lexists('out/value.txt') or os.symlink('/etc/hostname', 'out/value.txt')\n")
    _, items = _grade(tmp_path / "b", assignment, sandbox, link)
    assert items["trusted"].points == 0 and "skipped" in items["trusted"].message


def test_the_secret_seed_never_reaches_the_report(tmp_path, tiny_root, sandbox):
    from grader.course.secret import secret_seed

    assignment = _course(tiny_root)
    report, _ = _grade(tmp_path, assignment, sandbox, WRITE_VALUE)
    secret = str(secret_seed("20250042", "tiny"))
    folder = tmp_path / "out" / "20250042_ana"
    text = "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())
    assert secret not in text
    assert "{secret_seed}" in (folder / "report.json").read_text()  # the command is shown with the placeholder


def test_secrets_are_refused_outside_trusted_steps(tiny_root):
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["experiments"][0]["command"] += " {secret_seed}"
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match="may only be used by a trusted step"):
        catalog.load("tiny", tiny_root)


def test_the_secret_seed_is_stable_and_per_student(tmp_path, monkeypatch):
    from grader.course import secret

    monkeypatch.setenv(secret.SECRET_ENV, str(tmp_path / "key"))
    first = secret.secret_seed("20250042", "tiny")
    assert secret.secret_seed("20250042", "tiny") == first != secret.secret_seed("20250043", "tiny")
    assert (tmp_path / "key").stat().st_mode & 0o077 == 0
