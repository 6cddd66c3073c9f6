"""The student handout is self-contained: copied alone to a fresh folder, its tool installs with
pip and runs `grader check` and `grader package` there, knowing nothing of the course repository
(no solutions, no hidden tests)."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, run_cli, shipped_ids

SOLUTION_LINE = "return sum(values) / len(values)"
HIDDEN_TEST_TEXT = "mean([1, 2, 3]) should be 2"


def student_cli(*args: str, cwd: Path, site: Path) -> subprocess.CompletedProcess:
    """`grader` as the student runs it: the tool pip installed, nothing of this checkout importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_ROOT", "PYTHONPATH", "GRADER_DATA")}
    env.update(PYTHONPATH=str(site), COLUMNS="200", GRADER_BACKEND="local")
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def installed_handout(tmp_path, tiny_root):
    made = run_cli("--root", str(tiny_root), "handout", "tiny", "-o", str(tmp_path / "handout"))
    assert made.returncode == 0, made.stderr
    fresh = tmp_path / "student" / "tiny"
    shutil.copytree(tmp_path / "handout", fresh)
    shutil.rmtree(tmp_path / "handout")
    shutil.rmtree(tiny_root)  # the course is gone: only the handout remains
    site = tmp_path / "site"
    # The README's one line, into a folder instead of a venv (a venv per test is slow).
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), "./grader-tool"], cwd=fresh, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    return fresh, site


def test_handout_holds_no_solution_and_no_hidden_test(installed_handout):
    fresh, _ = installed_handout
    text = "".join(p.read_text(errors="replace") for p in fresh.rglob("*") if p.is_file())
    assert SOLUTION_LINE not in text and HIDDEN_TEST_TEXT not in text
    assert "pip install ./grader-tool" in (fresh / "README.md").read_text()
    assert "--download" in (fresh / "DATA.md").read_text() and (fresh / "rubric.yaml").is_file()


def test_tool_knows_only_the_handouts_assignment(installed_handout):
    fresh, site = installed_handout
    where = student_cli("list", cwd=fresh, site=site)
    assert where.returncode == 0, where.stderr
    assert where.stdout.split()[0] == "tiny" and "colored_mnist" not in where.stdout
    probe = subprocess.run([sys.executable, "-c", "import grader, grader.course.catalog as c; print(grader.__file__); print(c.default_root())"],
                           cwd=fresh, env={**os.environ, "PYTHONPATH": str(site), "GRADER_ROOT": ""},
                           capture_output=True, text=True)
    module, root = probe.stdout.split()
    assert module.startswith(str(site)) and root.startswith(str(site))


def test_check_and_package_work_from_the_handout_alone(installed_handout):
    fresh, site = installed_handout
    skeleton = (fresh / "answer.py").read_text()
    # The student's work: both TODOs filled in.
    (fresh / "answer.py").write_text(skeleton.replace(
        "raise NotImplementedError('TODO (answer.py): one trainable block of 4 * width and a frozen pair')",
        "return [Param(4 * self.width, True), Param(2, False)]").replace(
        "raise NotImplementedError('TODO (answer.py): the arithmetic mean')", "return sum(values) / len(values)"))
    log = subprocess.run([sys.executable, "experiment.py", "--seed", "42"], cwd=fresh, capture_output=True, text=True)
    (fresh / "result_log.txt").write_text(log.stdout)

    check = student_cli("check", "tiny", "--dir", ".", "--student-id", "20250042", cwd=fresh, site=site)
    assert check.returncode == 0, check.stderr
    assert "11/15" in check.stdout and "skipped" in check.stdout  # hidden tests and probe counts: the TA's run
    assert "made with seed" not in check.stdout

    pkg = student_cli("package", "tiny", "--student-id", "20250042", "--name", "ana", cwd=fresh, site=site)
    assert pkg.returncode == 0, pkg.stderr
    with zipfile.ZipFile(fresh / "20250042_ana.zip") as z:
        assert "20250042_ana/result_log.txt" in z.namelist() and not any("/grader-tool/" in n for n in z.namelist())

    # Logs made with another student's seed are refused, and flagged by check.
    other = student_cli("package", "tiny", "--student-id", "20250007", "--name", "bo", cwd=fresh, site=site)
    assert other.returncode == 2 and "made with seed 42, but student ID 20250007 gives seed 7" in other.stderr
    assert not (fresh / "20250007_bo.zip").exists()
    flagged = student_cli("check", "tiny", "--dir", ".", "--student-id", "20250007", cwd=fresh, site=site)
    assert "made with seed 42" in flagged.stdout


def _run_sh_passes_download_on(assignment_id: str) -> bool:
    """Its run.sh hands --download to the commands it runs (others accept the flag and need none)."""
    run_sh = REPO / "skeleton" / assignment_id / "run.sh"
    return run_sh.is_file() and re.search(r"\+?=\(--download\)", run_sh.read_text()) is not None


DOWNLOADERS = [a for a in shipped_ids() if _run_sh_passes_download_on(a)]


def test_the_download_flag_is_checked_where_run_sh_takes_it():
    assert {"colored_mnist", "channel_shift"} <= set(DOWNLOADERS)


@pytest.mark.parametrize("assignment", DOWNLOADERS)
@pytest.mark.parametrize("how", ["flag", "env"])
def test_handout_run_sh_passes_download_on(tmp_path, assignment, how):
    shutil.copyfile(Path(__file__).resolve().parent.parent / "skeleton" / assignment / "run.sh", tmp_path / "run.sh")
    fake = tmp_path / "fake_python"
    fake.write_text('#!/usr/bin/env bash\necho "$@" >> calls.txt\n')
    fake.chmod(0o755)
    args = ["bash", "run.sh", "12332426"] + (["--download"] if how == "flag" else [])
    env = {**os.environ, "PYTHON": str(fake), "BONUS": "0", **({"DOWNLOAD": "1"} if how == "env" else {})}
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls and all("--download" in c and "--seed 2426" in c for c in calls)
    wrong = subprocess.run(["bash", "run.sh", "12332426", "--donwload"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "unknown option --donwload" in wrong.stderr


def _solution_only_lines(assignment) -> set[str]:
    """Lines of the reference solution that the skeleton does not hold: what must never leak."""
    lines: set[str] = set()
    for path in assignment.solution_dir.rglob("*"):
        if not path.is_file() or path.suffix not in (".py", ".ipynb"):
            continue
        skeleton = assignment.skeleton_dir / path.relative_to(assignment.solution_dir)
        theirs = skeleton.read_text(errors="replace") if skeleton.is_file() else ""
        # A line the skeleton holds anywhere (a hint may quote one) is public already.
        lines |= {line.strip() for line in path.read_text(errors="replace").splitlines()
                  if len(line.strip()) > 25 and line.strip() not in theirs and "SOLUTION" not in line}
    return lines


@pytest.mark.parametrize("assignment_id", shipped_ids())
def test_shipped_handouts_hold_no_solution_or_hidden_test_and_their_tool_installs(tmp_path, assignment_id):
    from grader.commands.handout import make_handout
    from grader.course import catalog

    assignment = catalog.load(assignment_id, REPO)
    fresh = make_handout(assignment, tmp_path / "handout")
    text = "\n".join(p.read_text(errors="replace") for p in fresh.rglob("*") if p.is_file() and p.suffix != ".pyc")
    leaked = {line for line in _solution_only_lines(assignment) if line in text}
    assert not leaked, sorted(leaked)[:3]
    for hidden in (assignment.folder / "tests").rglob("*.py"):
        # The checks themselves: test names and their assertions (imports are shared with the skeleton).
        body = [line.strip() for line in hidden.read_text().splitlines() if line.strip().startswith(("def test_", "assert "))]
        assert body and not [line for line in body if line in text], hidden
    assert not any("baselines" in p.parts for p in fresh.rglob("*"))
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), "./grader-tool"], cwd=fresh, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    listed = student_cli("list", cwd=fresh, site=site)
    assert listed.returncode == 0 and listed.stdout.split()[0] == assignment_id, listed.stdout + listed.stderr
