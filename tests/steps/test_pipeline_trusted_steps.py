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


# --- one trusted process that scores several exported models --------------------------------

MULTI_PY = '''
import os, sys
from grader.inside import trusted

p = trusted.parser(seed=False, holdout=False)
trusted.add_models(p)
args = p.parse_args()
shared = {"built": 0}


def score(path):
    text = open(path).read().strip()
    if text == "bad":
        trusted.fail(f"{path}: not a number")
    print(f"scoring {path} in process {os.getpid()}")
    return {"value": float(text), "pid": os.getpid()}


trusted.score_each(args.models, score)
'''


def _multi_course(tiny_root: Path, train_fails: bool = False) -> catalog.Assignment:
    """The tiny assignment plus: a second student step (b-train) and one trusted step scoring
    out/a.txt (needs main) and out/b.txt (needs b-train), each into its own log."""
    skeleton = tiny_root / "skeleton" / "tiny"
    (skeleton / "multi.py").write_text(MULTI_PY)
    (skeleton / "b_train.py").write_text("raise SystemExit('b-train broke')\n" if train_fails else "pass\n")
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["experiments"] += [
        {"name": "b-train", "command": "{python} b_train.py", "log": "b_train_log.txt"},
        {"name": "scoring", "command": "{python} multi.py {scores}", "log": "scoring_log.txt", "trusted": True,
         "scores": [{"name": "a", "model": "out/a.txt", "log": "a_log.txt", "inputs": ["out/a.txt"],
                     "needs": ["main"]},
                    {"name": "b", "model": "out/b.txt", "log": "b_log.txt", "inputs": ["out/b.txt"],
                     "needs": ["b-train"]}]}]
    spec_path.write_text(yaml.safe_dump(spec))
    rubric_path = tiny_root / "rubrics" / "tiny.yaml"
    rubric = yaml.safe_load(rubric_path.read_text())
    rubric["items"] += [{"id": f"value_{n}", "title": f"Value {n}", "kind": "metric", "log": f"{n}_log.txt",
                         "key": "value", "tiers": [{"op": ">=", "threshold": 0.5, "points": 1}]} for n in "ab"]
    rubric_path.write_text(yaml.safe_dump(rubric))
    return catalog.load("tiny", tiny_root)


def _write_values(a: str, b: str) -> str:
    return (f"import os\nos.makedirs('out', exist_ok=True)\nopen('out/a.txt', 'w').write({a!r})\n"
            f"open('out/b.txt', 'w').write({b!r})\n")


def test_one_trusted_process_scores_every_model_into_its_own_log(tmp_path, tiny_root, sandbox):
    assignment = _multi_course(tiny_root)
    report, items = _grade(tmp_path, assignment, sandbox, _write_values("0.75", "0.5"))
    assert (items["value_a"].value, items["value_b"].value) == (0.75, 0.5)
    assert items["value_a"].points == items["value_b"].points == 1
    assert "no code of yours ran" in items["value_a"].computed_by
    logs = tmp_path / "out" / "20250042_ana" / "logs"
    pids = {(logs / f"{n}_log.txt").read_text().split("in process ")[1].split()[0] for n in "ab"}
    assert len(pids) == 1  # one process scored both
    assert [run.name for run in report.runs].count("scoring") == 1 and (logs / "scoring_log.txt").is_file()


def test_a_model_that_cannot_be_scored_keeps_its_reason_and_the_others_their_scores(tmp_path, tiny_root, sandbox):
    assignment = _multi_course(tiny_root)
    _, items = _grade(tmp_path, assignment, sandbox, _write_values("bad", "0.5"))
    assert items["value_b"].value == 0.5 and items["value_b"].points == 1
    assert items["value_a"].points == 0 and "out/a.txt: not a number" in items["value_a"].message


def test_a_score_whose_training_failed_is_skipped_with_the_root_cause(tmp_path, tiny_root, sandbox):
    assignment = _multi_course(tiny_root, train_fails=True)
    _, items = _grade(tmp_path, assignment, sandbox, _write_values("0.75", "0.5"))
    assert items["value_a"].value == 0.75 and items["value_a"].points == 1  # still scored, in the one process
    assert items["value_b"].points == 0 and "skipped: b-train failed" in items["value_b"].message
    assert "b-train broke" in items["value_b"].message


def test_no_model_to_score_skips_the_step(tmp_path, tiny_root, sandbox):
    assignment = _multi_course(tiny_root)
    report, items = _grade(tmp_path, assignment, sandbox, "")
    assert all("its input out/" in items[f"value_{n}"].message for n in "ab")
    assert {run.name: run.outcome for run in report.runs}["scoring"].startswith("skipped")


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(trusted=False), "inputs and scores are for trusted steps"),
    (lambda e: e.update(command="{python} multi.py"), "needs {scores}"),
    (lambda e: e["scores"][1].update(log="a_log.txt"), "written by two steps"),
    (lambda e: e["scores"][1].update(name="main"), "used twice"),
    (lambda e: e["scores"][0].update(needs=["later"]), "not an earlier experiment"),
])
def test_a_badly_declared_scoring_step_is_refused(tiny_root, change, message):
    _multi_course(tiny_root)
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    change(spec["experiments"][-1])
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=message):
        catalog.load("tiny", tiny_root)


# --- trusted assets: held-out data built once, for trusted steps only ------------------------

def _trusted_asset_course(tiny_root: Path, holdout: Path) -> catalog.Assignment:
    holdout.mkdir()
    (holdout / "t10k.txt").write_text("7")
    skeleton = tiny_root / "skeleton" / "tiny"
    (skeleton / "build.py").write_text("import sys\nopen('built.txt', 'w').write(str(2 * int(open(sys.argv[1] + "
                                       "'/t10k.txt').read())))\nprint('built')\n")
    (skeleton / "use.py").write_text("import sys\nprint('Summary: ' + repr({'built': float(open(sys.argv[1] + "
                                     "'/built.txt').read())}))\n")
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["dataset"] = {"default": "d", "choices": {"d": {"description": "d", "holdout_dir": str(holdout)}}}
    spec["assets"] = [{"name": "heldout", "command": "{python} build.py {holdout_dir}", "outputs": ["built.txt"],
                       "trusted": True}]
    spec["experiments"].append({"name": "use", "command": "{python} use.py {trusted_assets}", "log": "use_log.txt",
                                "trusted": True})
    spec_path.write_text(yaml.safe_dump(spec))
    rubric_path = tiny_root / "rubrics" / "tiny.yaml"
    rubric = yaml.safe_load(rubric_path.read_text())
    rubric["items"].append({"id": "built", "title": "Built", "kind": "metric", "log": "use_log.txt", "key": "built",
                            "tiers": [{"op": ">=", "threshold": 14, "points": 1}]})
    rubric_path.write_text(yaml.safe_dump(rubric))
    return catalog.load("tiny", tiny_root)


def test_a_trusted_asset_is_built_once_from_held_out_data_outside_the_data_folder(tmp_path, tiny_root, sandbox,
                                                                                   monkeypatch):
    from grader.steps import assets, hidden_tests
    from grader.steps.pipeline import data_root

    monkeypatch.setenv(hidden_tests.CACHE_ENV, str(tmp_path / "cache"))
    assignment = _trusted_asset_course(tiny_root, tmp_path / "holdout")
    built = []
    real_run = sandbox.run
    monkeypatch.setattr(sandbox, "run", lambda request: (built.append(request.argv) if "build.py" in
                                                         " ".join(request.argv) else None) or real_run(request))
    for k in range(2):
        _, items = _grade(tmp_path / f"g{k}", assignment, sandbox, "")
        assert items["built"].value == 14 and items["built"].points == 1
    assert len(built) == 1  # the second submission reads the cache
    folder = assets.assets_folder(assignment, "d", data_root(), trusted=True, holdout_dir=tmp_path / "holdout")
    assert (folder / "built.txt").read_text() == "14"
    assert (tmp_path / "cache") in folder.parents and data_root() not in folder.parents
    (tmp_path / "holdout" / "t10k.txt").write_text("8")  # other held-out data: built anew
    _, items = _grade(tmp_path / "g2", assignment, sandbox, "")
    assert items["built"].value == 16 and len(built) == 2


@pytest.mark.parametrize("where, command, message", [
    ("experiment", "{python} experiment.py {trusted_assets}", "may only be used by a trusted step"),
    ("asset", "{python} build.py {holdout_dir}", "may only be used by a trusted asset"),
    ("asset", "{python} build.py {secret_seed}", "is per student"),
])
def test_held_out_placeholders_are_refused_where_student_code_could_read_them(tiny_root, where, command, message):
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    if where == "experiment":
        spec["experiments"][0]["command"] = command
    else:
        spec["assets"] = [{"name": "a", "command": command, "outputs": ["x"]}]
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=message):
        catalog.load("tiny", tiny_root)


def test_the_graders_own_processes_start_preloaded_and_score_as_fresh_ones(tmp_path, tiny_root, sandbox, monkeypatch):
    """The trusted step and the hidden tests fork from a preloaded interpreter (local backend);
    the report is the one the same submission gets with every command in a fresh interpreter."""
    from grader.sandbox import warm

    assignment = _course(tiny_root)
    warm.POOL.stop_all()  # interpreters earlier tests left
    monkeypatch.setenv(warm.SWITCH_ENV, "0")
    fresh, fresh_items = _grade(tmp_path / "fresh", assignment, sandbox, WRITE_VALUE)
    assert warm.POOL.spawned() == 0
    monkeypatch.setenv(warm.SWITCH_ENV, "1")
    try:
        forked, forked_items = _grade(tmp_path / "forked", assignment, sandbox, WRITE_VALUE)
        assert warm.POOL.spawned() == 2  # the trusted step and the hidden tests; never the student's run
    finally:
        warm.POOL.stop_all()
    assert forked.score == fresh.score and forked_items["trusted"].value == 0.75
    assert {k: (i.points, i.value) for k, i in forked_items.items()} == {
        k: (i.points, i.value) for k, i in fresh_items.items()}
