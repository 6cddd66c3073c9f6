"""The Gradescope bundle end to end: run_autograder in a folder laid out like /autograder, with
Gradescope's submission_metadata.json, for a zip, a folder and loose files; a blank student ID;
a failure that still leaves results.json. (In a real container: optional, not run here.)"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader.commands.gradescope import (
    SETUP_SH,
    TORCH_CPU_SH,
    build_bundle,
    bundle_readme,
    gradescope_due,
    run_on_gradescope,
    single_submission,
    student_from_metadata,
)
from grader.errors import GraderError
from grader.sandbox.base import RunRequest
from grader.sandbox.local import LocalSandbox

from conftest import REPO, shipped_ids, solution_only_lines, student_files, write_zip

SCHEMA = json.loads((REPO / "grader" / "reports" / "schemas" / "gradescope_results.schema.json").read_text())


def metadata(sid="20250042", email="ana@example.edu", user_id=4242, name="Ana Lima") -> dict:
    """The shape Gradescope documents for /autograder/submission_metadata.json."""
    return {
        "id": 123456,
        "created_at": "2026-11-20T14:22:32.365935-08:00",
        "assignment": {"due_date": "2026-11-21T23:00:00.000000-08:00", "group_size": 1, "group_submission": False,
                       "id": 25828, "course_id": 1234, "late_due_date": None,
                       "release_date": "2026-11-01T00:00:00.000000-08:00", "title": "Tiny", "total_points": "15.0"},
        "submission_method": "upload",
        "users": [{"email": email, "id": user_id, "name": name, "sid": sid}],
        "previous_submissions": [],
    }


def unpacked_bundle(assignment, tmp_path: Path) -> Path:
    """A folder laid out like /autograder with the assignment's bundle unpacked in source/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(build_bundle(assignment, tmp_path / "autograder.zip")) as z:
        z.extractall(root / "source")
    (root / "submission").mkdir()
    return root


@pytest.fixture
def autograder(tmp_path, tiny):
    return unpacked_bundle(tiny, tmp_path)


def run_autograder(root: Path, meta: dict, python: str = sys.executable, timeout: float = 300) -> dict:
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    # The bundle's own copy of the grader, not this checkout's: the bundle must be self-contained.
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": python, "GRADER_RUN_AS": "",
           "PYTHONPATH": str(root / "source" / "grader_src")}
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return results


def _upload(root: Path, layout: str, files: dict[str, str]) -> None:
    upload = root / "submission"
    if layout == "zip":
        write_zip(upload / "20250042_ana.zip", files, folder="20250042_ana")
    elif layout == "folder":
        for rel, text in files.items():
            (upload / "20250042_ana" / rel).parent.mkdir(parents=True, exist_ok=True)
            (upload / "20250042_ana" / rel).write_text(text)
    else:
        for rel, text in files.items():
            (upload / rel).write_text(text)


@pytest.mark.parametrize("layout", ["zip", "folder", "loose"])
def test_run_autograder_grades_exactly_one_submission_whatever_its_layout(autograder, tiny, layout):
    _upload(autograder, layout, student_files(tiny))
    results = run_autograder(autograder, metadata())
    assert results["score"] == 16, results["output"]
    assert "seed 42" in results["output"] and len(results["tests"]) == len(tiny.rubric.items)


def test_blank_student_id_falls_back_and_says_so(autograder, tiny):
    _upload(autograder, "loose", student_files(tiny))  # loose files: no studentID_name to read either
    results = run_autograder(autograder, metadata(sid="", email="s20251234@uni.example"))
    assert "seed 1234" in results["output"] and "from the email address" in results["output"]
    results = run_autograder(autograder, metadata(sid=None, email="ana@uni.example", user_id=987654))
    assert "seed 7654" in results["output"] and "Gradescope's user ID 987654" in results["output"]


def test_blank_student_id_takes_the_submissions_own_name_first(tmp_path):
    folder = tmp_path / "20250042_ana"
    folder.mkdir()
    assert student_from_metadata(metadata(sid=""), folder)[0] == "20250042"
    with pytest.raises(GraderError, match="cannot choose the seed"):
        student_from_metadata({"users": [{"sid": "", "email": "x@y", "name": "X"}]}, tmp_path)


def test_gradescopes_due_date_decides_lateness_once(tmp_path, tiny_root, tiny):
    """The rubric's penalty from Gradescope's due date (the student's extension first), never the
    rubric's own due date on top of it."""
    root = tmp_path / "autograder"
    shutil.copytree(tiny_root, root / "source" / "course")
    rubric = root / "source" / "course" / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace(
        "cap: 20", "cap: 20\nlate: {due: '2020-01-01T00:00:00Z', penalty_per_unit: 25}"))
    (root / "submission").mkdir()
    write_zip(root / "submission" / "20250042_ana.zip", student_files(tiny))
    meta = metadata()  # created 2026-11-20T14:22-08:00, due 2026-11-21T23:00-08:00: on time
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    assert run_on_gradescope(root, "tiny", LocalSandbox())["score"] == 16
    meta["assignment"]["due_date"] = "2026-11-19T23:00:00.000000-08:00"  # one day started late: 25% of 16
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    results = run_on_gradescope(root, "tiny", LocalSandbox())
    assert results["score"] == 12 and "late: 1 day after 2026-11-19T23:00-08:00" in results["output"]
    meta["users"][0]["assignment"] = {"due_date": "2026-11-22T23:00:00.000000-08:00"}  # the student's extension
    assert gradescope_due(meta).isoformat() == "2026-11-22T23:00:00-08:00"
    assert gradescope_due({"assignment": {"due_date": None}}) is None


def test_failure_still_writes_results_json(autograder, tiny):
    _upload(autograder, "loose", student_files(tiny))
    results = run_autograder(autograder, metadata(), python="/bin/false")  # the grader cannot even start
    assert results["score"] == 0 and "stopped before it could grade" in results["output"]
    (autograder / "submission_metadata.json").unlink()
    shutil.rmtree(autograder / "submission")
    (autograder / "submission").mkdir()
    results = run_autograder(autograder, metadata())
    assert results["score"] == 0 and "the submission is empty" in results["output"]


def test_single_submission_ignores_mac_junk(tmp_path):
    (tmp_path / "__MACOSX").mkdir()
    write_zip(tmp_path / "20250042_ana.zip", {"a.py": ""})
    assert single_submission(tmp_path) == tmp_path / "20250042_ana.zip"
    (tmp_path / "notes.txt").write_text("")
    assert single_submission(tmp_path) == tmp_path


def test_bundle_readme_states_the_settings(tmp_path, tiny):
    text = bundle_readme(tiny)
    assert "Memory: not measured" in text and "CPUs: 2" in text and "Timeout: at least" in text
    import dataclasses

    measured = dataclasses.replace(tiny, spec=tiny.spec.model_copy(update={"peak_memory_mb": 2800}))
    assert "Memory: at least 4 GB (a step peaks at 2800 MB resident" in bundle_readme(measured)
    with zipfile.ZipFile(build_bundle(tiny, tmp_path / "ag.zip")) as z:
        assert z.read("README.md").decode() == text
        setup = z.read("setup.sh").decode()
    assert subprocess.run(["bash", "-n"], input=setup, text=True).returncode == 0
    assert "sys.version_info < (3, 11)" in setup and "uv python install 3.11" in setup and "chmod 700 $src" in setup
    # No test extra, torch from PyTorch's CPU index when it answers (PyPI otherwise), pip's progress shown.
    assert "[ml,test]" not in setup and '"$src/grader_src[ml]"' in setup and "pip install -q" not in setup
    # The probe and the fallback are run.sh's own (torch_cpu.sh), carried whole: the bundle sources nothing.
    assert TORCH_CPU_SH.strip() in setup and "TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu" in setup
    cpu = [line for line in setup.splitlines() if line.startswith("install_cpu_torch ")]
    assert len(cpu) == 1 and "torch==" in cpu[0] and "torchvision==" in cpu[0]
    assert setup.index(cpu[0]) < setup.index('"$src/grader_src[ml]"')  # PyPI after: the CPU build satisfies its pin


@pytest.mark.parametrize("probe", [0, 1])
def test_setup_sh_takes_torch_from_the_cpu_index_only_when_it_answers(tmp_path, probe):
    """setup.sh's install part, run under its own `set -euo pipefail` with a stand-in venv python."""
    start, end = SETUP_SH.index("# The same probe"), SETUP_SH.index("mkdir -p $root/data")
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/usr/bin/env bash\nprintf \'%s\\n\' "$*" >> "$CALLS"\n'
                      f'case "$*" in *urlopen*) exit {probe} ;; esac\n')
    python.chmod(0o755)
    script = f"set -euo pipefail\nroot={tmp_path}\nsrc=$root/source\n" + SETUP_SH[start:end]
    done = subprocess.run(["bash", "-c", script], env={**os.environ, "CALLS": str(tmp_path / "calls")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pips = [c for c in (tmp_path / "calls").read_text().splitlines() if c.startswith("-m pip install")]
    assert pips[-1] == f"-m pip install {tmp_path}/source/grader_src[ml]"
    assert len(pips) == (2 if probe == 0 else 1) and ("not reachable" in done.stderr) == (probe == 1)
    if probe == 0:
        assert "--index-url https://download.pytorch.org/whl/cpu torch==" in pips[0] and "torchvision==" in pips[0]


@pytest.mark.parametrize("assignment_id", ["colored_mnist", "cnn_transfer", "channel_shift", "cvae_ood"])
def test_shipped_bundles_fit_gradescope_from_measured_runs(assignment_id):
    from grader.commands.gradescope import GRADESCOPE_MAX_MINUTES, MEASURED, timeout_minutes
    from grader.course import catalog

    minutes, why, warning = timeout_minutes(catalog.load(assignment_id, REPO))
    assert minutes <= GRADESCOPE_MAX_MINUTES and warning == "" and "the reference was graded in" in why
    readme = bundle_readme(catalog.load(assignment_id, REPO))
    assert "not measured" not in readme and f"peaks at {MEASURED[assignment_id].peak_mb}" in readme or \
        assignment_id == "colored_mnist"


def test_a_timeout_over_gradescopes_40_minutes_is_capped_with_a_warning(tiny, monkeypatch):
    from grader.commands import gradescope

    monkeypatch.setitem(gradescope.MEASURED, "tiny", gradescope.Measured(20 * 60, 100, "a test"))
    minutes, _, warning = gradescope.timeout_minutes(tiny)
    assert minutes == 40 and "Gradescope allows at most 40" in warning and warning in bundle_readme(tiny)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another account needs root")
def test_student_code_runs_unprivileged_and_cannot_read_the_graders_files(tmp_path):
    from grader.course.spec import SandboxLimits

    # Like /autograder/source: root's, mode 700, holding what the student must not read.
    with tempfile.TemporaryDirectory(prefix="course-") as course, tempfile.TemporaryDirectory(prefix="grader-") as tmp:
        secret = Path(course) / "hidden_test.py"
        secret.write_text("EXPECTED = 0.61\n")
        work = Path(tmp) / "workspace"
        work.mkdir()
        (work / "probe.py").write_text(
            "import os\nprint('uid', os.getuid())\n"
            f"try:\n    open({str(secret)!r}).read(); print('READ')\nexcept PermissionError:\n    print('DENIED')\n"
            "open('mine.txt', 'w').write('ok')\n")
        python = shutil.which("python3", path="/usr/bin:/bin")
        result = LocalSandbox(run_as="nobody").run(RunRequest(argv=[python, "probe.py"], workspace=work,
                                                             log_path=tmp_path / "log.txt",
                                                             limits=SandboxLimits(wall_seconds=30)))
        log = (tmp_path / "log.txt").read_text()
        assert result.ok, log
        assert "uid 65534" in log and "DENIED" in log and "READ" not in log and (work / "mine.txt").is_file()


@pytest.mark.parametrize("assignment_id", shipped_ids())
def test_shipped_bundles_carry_no_solution_and_state_their_settings(tmp_path, assignment_id):

    from grader.course import catalog

    assignment = catalog.load(assignment_id, REPO)
    with zipfile.ZipFile(build_bundle(assignment, tmp_path / "ag.zip")) as z:
        names = z.namelist()
        text = "\n".join(z.read(n).decode(errors="replace") for n in names if not n.startswith("grader_src/"))
        readme = z.read("README.md").decode()
    leaked = {line for line in solution_only_lines(assignment) if line in text}
    assert not leaked, sorted(leaked)[:3]
    assert not any(n.startswith("course/solutions") or "/baselines/" in n for n in names)
    assert f"course/rubrics/{assignment_id}.yaml" in names and "run_autograder" in names
    assert "Memory: " in readme and "Timeout: at least" in readme and "CPUs: 2" in readme


# Each shipped assignment through its own bundle, with the untouched skeleton (seconds: it stops
# at the first TODO), one upload layout each so all of them and a blank student ID are covered.
UPLOADS = {"colored_mnist": ("zip", "20250042"), "cnn_transfer": ("folder", "20250042"),
           "channel_shift": ("loose", "20250042"), "cvae_ood": ("loose", "")}
SHIPPED_UPLOADS = [(a, *UPLOADS.get(a, ("zip", "20250042"))) for a in shipped_ids()]


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id,layout,sid", SHIPPED_UPLOADS)
def test_shipped_bundles_grade_a_skeleton_upload(tmp_path, assignment_id, layout, sid):
    from grader.course import catalog

    assignment = catalog.load(assignment_id, REPO)
    root = unpacked_bundle(assignment, tmp_path)
    _upload(root, layout, student_files(assignment, "skeleton"))
    results = run_autograder(root, metadata(sid=sid, email="s20250042@uni.example"), timeout=900)
    assert results["score"] == 0, results["output"]
    assert "seed 42" in results["output"]
    from grader.reports.report import item_title

    names = {t["name"] for t in results["tests"]}  # each title once, "(bonus)" never doubled
    assert names == {item_title(i) for i in assignment.rubric.items if i.visibility != "hidden"}, names


def test_the_gradescope_entry_point_imports_from_an_installed_grader(tmp_path):
    """On Gradescope the grader is pip installed: no pyproject.toml beside the package. The entry
    point run_autograder calls must import there (it once read pyproject.toml at import and every
    submission got the fallback 0)."""
    shutil.copytree(REPO / "grader", tmp_path / "site" / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-c", "import grader.commands.gradescope as g; print(g.__file__)"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path / "site"))
