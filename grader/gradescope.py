"""Gradescope: results.json for each report, and the autograder bundle that runs the same
rubric on Gradescope (setup.sh, run_autograder, the grader and the course data, never the
solutions)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import yaml

from grader import probes
from grader.sandbox.local import LocalRunner

from grader.catalog import Assignment
from grader.report import Report

STATUS_TEXT = {"graded": "Graded", "error": "Grading failed", "timeout": "Timed out", "rejected": "Submission rejected",
               "crashed": "Grading failed (grader error)"}


def results_json(report: Report) -> dict:
    """Gradescope's results.json for one report. The total is given explicitly, because groups,
    the cap and bonus items make it differ from the sum of the tests."""
    output = [f"{STATUS_TEXT[report.status]}: {report.score:g}/{report.max_score:g}"
              f" (seed {report.seed}, dataset {report.dataset or 'none'})."]
    if report.message:
        output.append(report.message)
    output += [f"Warning: {w}" for w in report.warnings + report.flags]
    tests = []
    for n, item in enumerate(report.items, start=1):
        note = "" if item.counted else " Not counted: another item of its group scored higher."
        tests.append({
            "name": item.title + (" (bonus)" if item.bonus else ""),
            "number": str(n),
            "score": item.points,
            "max_score": item.max_points,
            "status": "passed" if item.status == "passed" else "failed",
            "output": item.message + note,
            "tags": [item.kind] + ([item.group] if item.group else []),
            "visibility": "visible",
        })
    return {
        "score": report.score,
        "execution_time": round(report.timings.get("total", 0.0), 2),
        "output": "\n".join(output),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_results(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_json(report), indent=2), encoding="utf-8")
    return path


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3-venv python3-pip >/dev/null
apt-get install -y -qq dataset-fashion-mnist >/dev/null || echo "dataset-fashion-mnist not packaged here: put the data under /autograder/source/data"
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q /autograder/source/grader_src'[ml,test]'
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this per submission: files in /autograder/submission, results expected in
# /autograder/results/results.json. The seed comes from the student ID in the metadata.
set -uo pipefail
sid=$(/autograder/venv/bin/python -c 'import json; print(json.load(open("/autograder/submission_metadata.json"))["users"][0]["sid"])' 2>/dev/null || echo 0)
export GRADER_ROOT=/autograder/source/course GRADER_DATA=/autograder/source/data
/autograder/venv/bin/grader grade /autograder/submission --assignment {assignment} --student-id "$sid" --out /tmp/grader-out
mkdir -p /autograder/results
cp /tmp/grader-out/submission/results.json /autograder/results/results.json
"""


def _add_tree(archive: zipfile.ZipFile, source: Path, prefix: str, skip: frozenset[str] = frozenset()) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc" and rel.parts[0] not in skip:
            archive.write(path, f"{prefix}/{rel.as_posix()}")


def _add_script(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o755 << 16
    archive.writestr(info, text)


def build_bundle(assignment: Assignment, target: Path) -> Path:
    package_root = Path(__file__).resolve().parent.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_script(archive, "setup.sh", SETUP_SH)
        _add_script(archive, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment.id))
        _add_tree(archive, package_root / "grader", "grader_src/grader")
        for name in ("pyproject.toml", "README.md"):
            archive.write(package_root / name, f"grader_src/{name}")
        # Baselines are edits of the reference: they would hand out solution lines.
        _add_tree(archive, assignment.folder, f"course/assignments/{assignment.id}",
                  skip=frozenset({"assignment.yaml", "baselines"}))
        spec = assignment.spec.model_dump(mode="json", exclude={"baselines"})
        archive.writestr(f"course/assignments/{assignment.id}/assignment.yaml", yaml.safe_dump(spec, sort_keys=False))
        _add_tree(archive, assignment.skeleton_dir, f"course/skeleton/{assignment.id}")
        archive.write(assignment.rubric_path, f"course/rubrics/{assignment.id}.yaml")
        # The hidden tests compare with the reference's outputs; the bundle carries those, not the solution.
        if assignment.runner_files():
            expected = probes.expected_outputs_file(assignment, LocalRunner())
            rel = probes.shipped_expected_path(assignment).relative_to(assignment.root)
            archive.write(expected, f"course/{rel.as_posix()}")
    return target
