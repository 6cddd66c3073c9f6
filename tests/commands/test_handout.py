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

from grader.commands.handout import CPU_TORCH_INSTALL, INSTALL

from conftest import REPO, run_cli, shipped_ids, solution_only_lines

TOOL = [part for part in INSTALL.split() if part.startswith("./grader-tool/")]

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
    install_tool(fresh, site)
    return fresh, site


def install_tool(handout: Path, site: Path) -> None:
    """The README's install line, the tool's part, into a folder instead of a venv (a venv per test is slow)."""
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), *TOOL], cwd=handout, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr


def test_handout_holds_no_solution_and_no_hidden_test(installed_handout):
    fresh, _ = installed_handout
    text = "".join(p.read_text(errors="replace") for p in fresh.rglob("*") if p.is_file())
    assert SOLUTION_LINE not in text and HIDDEN_TEST_TEXT not in text
    assert INSTALL in (fresh / "README.md").read_text() and len(TOOL) == 2
    assert (fresh / "rubric.yaml").is_file()
    assert not (fresh / "DATA.md").exists() and "DATA.md" not in (fresh / "README.md").read_text()  # tiny reads none


def test_tool_knows_only_the_handouts_assignment(installed_handout):
    fresh, site = installed_handout
    where = student_cli("list", cwd=fresh, site=site)
    assert where.returncode == 0, where.stderr
    assert where.stdout.split()[0] == "tiny" and "colored_mnist" not in where.stdout
    probe = subprocess.run([sys.executable, "-c", "import grader, grader.course.catalog as c; print(grader.__file__); "
                                                  "print(c.default_root())"],
                           cwd=fresh, env={**os.environ, "PYTHONPATH": str(site), "GRADER_ROOT": ""},
                           capture_output=True, text=True)
    module, root = probe.stdout.split()
    assert module.startswith(str(site)) and root.startswith(str(site))
    # An untouched handout is clean: its README, DATA.md and rubric.yaml are the tool's own.
    check = student_cli("check", "tiny", "--dir", ".", "--student-id", "20250042", cwd=fresh, site=site)
    assert check.returncode == 0, check.stderr
    assert "warning" not in check.stdout and "(20250042, seed 42," in check.stdout, check.stdout


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
    shutil.copyfile(REPO / "skeleton" / assignment / "run.sh", tmp_path / "run.sh")
    fake = tmp_path / "fake_python"
    fake.write_text('#!/usr/bin/env bash\necho "$@" >> calls.txt\n')
    fake.chmod(0o755)
    args = ["bash", "run.sh", "12332426"] + (["--download"] if how == "flag" else [])
    env = {**os.environ, "PYTHON": str(fake), "BONUS": "0", **({"DOWNLOAD": "1"} if how == "env" else {})}
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls and all("--download" in c and "--seed 2426" in c for c in calls)
    wrong = subprocess.run(["bash", "run.sh", "12332426", "--donwload"], cwd=tmp_path, env=env, capture_output=True,
                           text=True)
    assert wrong.returncode == 2 and "unknown option or experiment --donwload" in wrong.stderr
    assert "DATA.md" not in wrong.stderr  # no DATA.md beside this run.sh: the message does not send one there
    (tmp_path / "DATA.md").write_text("how to get the data\n")
    wrong = subprocess.run(["bash", "run.sh", "12332426", "--donwload"], cwd=tmp_path, env=env, capture_output=True,
                           text=True)
    assert wrong.returncode == 2 and "see DATA.md for the data" in wrong.stderr




@pytest.mark.parametrize("assignment_id", shipped_ids())
def test_shipped_handouts_hold_no_solution_or_hidden_test_and_their_tool_installs(tmp_path, assignment_id):
    from grader.commands.handout import make_handout
    from grader.course import catalog

    assignment = catalog.load(assignment_id, REPO)
    fresh = make_handout(assignment, tmp_path / "handout")
    text = "\n".join(p.read_text(errors="replace") for p in fresh.rglob("*") if p.is_file() and p.suffix != ".pyc")
    leaked = {line for line in solution_only_lines(assignment) if line in text}
    assert not leaked, sorted(leaked)[:3]
    for hidden in (assignment.folder / "tests").rglob("*.py"):
        # The checks themselves: test names and their assertions (imports are shared with the skeleton).
        body = [line.strip() for line in hidden.read_text().splitlines()
                if line.strip().startswith(("def test_", "assert "))]
        assert body and not [line for line in body if line in text], hidden
    assert not any("baselines" in p.parts for p in fresh.rglob("*"))
    site = tmp_path / "site"
    install_tool(fresh, site)
    listed = student_cli("list", cwd=fresh, site=site)
    assert listed.returncode == 0 and listed.stdout.split()[0] == assignment_id, listed.stdout + listed.stderr


def _venv_with_this_environments_packages(where: Path) -> Path:
    """A fresh venv whose own site-packages come first, seeing this environment's packages (torch,
    pip, setuptools) through a path line, so nothing is downloaded and no grader is pre-installed."""
    import sysconfig
    import venv

    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "zz_outer_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


UNGRADED_RUN = {"channel_shift": "plain_log.txt", "colored_mnist": "ERM_log.txt"}


def _simulate_run_sh(handout: Path, assignment) -> None:
    """What ./run.sh 12332426 (and ./run.sh 12332426 of an ungraded experiment) leaves: every
    graded log (seed 2426), and the ungraded run's log."""
    for log in assignment.output_files() | {UNGRADED_RUN[assignment.id]}:
        (handout / log).write_text("seed: 2426\nSummary: {'Accuracy_testmean': 0.7, 'test_accuracy': 0.7}\n")


def test_two_handouts_tools_share_one_venv_and_an_untouched_handout_is_clean(tmp_path):
    """Both tools installed into one venv, as a student taking both assignments does: each
    `grader check` knows its assignment, prints no warning on the untouched handout nor after
    run.sh, and `grader package` zips only what the grader reads."""
    from grader.commands.handout import make_handout
    from grader.course import catalog

    python = _venv_with_this_environments_packages(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_ROOT", "PYTHONPATH", "GRADER_DATA")}
    env.update(COLUMNS="200", GRADER_BACKEND="local")
    handouts = {}
    for assignment_id in ("channel_shift", "colored_mnist"):
        assignment = catalog.load(assignment_id, REPO)
        handouts[assignment_id] = (make_handout(assignment, tmp_path / assignment_id), assignment)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *TOOL],
                             cwd=tmp_path / assignment_id, capture_output=True, text=True, timeout=300, env=env)
        assert pip.returncode == 0, pip.stderr

    def grader(*args, cwd):
        done = subprocess.run([str(python), "-m", "grader", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    assert [line.split()[0] for line in grader("list", cwd=tmp_path).splitlines()] == ["channel_shift", "colored_mnist"]
    for assignment_id, (handout, assignment) in handouts.items():
        fresh = grader("check", assignment_id, "--dir", ".", "--student-id", "12332426", cwd=handout)
        assert "warning" not in fresh and "seed 2426" in fresh and "not found" in fresh, fresh
        _simulate_run_sh(handout, assignment)
        ran = grader("check", assignment_id, "--dir", ".", "--student-id", "12332426", cwd=handout)
        assert "warning" not in ran and "not found" not in ran, ran
        packed = grader("package", assignment_id, "--student-id", "12332426", "--name", "ana", cwd=handout)
        assert "left out" not in packed, packed
        with zipfile.ZipFile(handout / "12332426_ana.zip") as z:
            names = {n.split("/", 1)[1] for n in z.namelist()}
        assert names == set(assignment.spec.editable) | assignment.output_files(), names


@pytest.mark.parametrize("assignment_id,named,expected", [
    ("colored_mnist", None, ["--reg_name IRM", "--trainer groupDRO", "--reg_name VREx"]),
    ("colored_mnist", "ERM", ["--trainer ERM"]),
    ("channel_shift", None, ["--method balanced"]),
    ("channel_shift", "plain", ["--method plain"]),
])
def test_run_sh_runs_the_graded_experiments_or_the_one_named(tmp_path, assignment_id, named, expected):
    shutil.copyfile(REPO / "skeleton" / assignment_id / "run.sh", tmp_path / "run.sh")
    fake = tmp_path / "fake_python"
    fake.write_text('#!/usr/bin/env bash\necho "$@" >> calls.txt\n')
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake)}
    done = subprocess.run(["bash", "run.sh", "12332426", *([named] if named else [])], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert len(calls) == len(expected) and all(want in call for want, call in zip(expected, calls)), calls
    wrong = subprocess.run(["bash", "run.sh", "12332426", "IRN"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "unknown option or experiment IRN" in wrong.stderr


def _names(requirements: list[str]) -> list[str]:
    import re

    lines = (line.split("#", 1)[0].strip() for line in requirements)
    return [re.split(r"[=<>!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-") for line in lines if line]


@pytest.mark.parametrize("assignment_id", ["colored_mnist", "cnn_transfer", "channel_shift", "cvae_ood"])
def test_handout_readme_follows_the_students_steps_and_installs_every_tool_once(tmp_path, assignment_id):
    import tomllib

    from grader.commands.handout import make_handout
    from grader.course import catalog

    fresh = make_handout(catalog.load(assignment_id, REPO), tmp_path / "handout")
    readme = (fresh / "README.md").read_text()
    steps = [INSTALL, "./run.sh 12332426", f"grader check {assignment_id}", f"grader package {assignment_id}"]
    assert all(step in readme for step in steps), readme
    assert [readme.index(step) for step in steps] == sorted(readme.index(step) for step in steps)
    assert readme.count(INSTALL) == 1 and readme.count("pip install") == 2  # INSTALL, and the optional CPU torch
    assert readme.count(CPU_TORCH_INSTALL) == 1 and "before the line above" in readme
    tool = [tomllib.loads((fresh / part / "pyproject.toml").read_text())["project"]["dependencies"] for part in TOOL]
    names = _names((fresh / "requirements.txt").read_text().splitlines()) + _names(tool[0]) + _names(tool[1])
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    if "jupyter" in readme.lower():
        assert "notebook" in names
    if "grader.inside" in (fresh / "run.sh").read_text():  # the notebook runner is the tool's
        assert "needs the grader tool" in (fresh / "run.sh").read_text() and "install the tool first" in readme


@pytest.mark.parametrize("notebook", [False, True], ids=["py", "notebook"])
def test_a_handout_of_a_grader_new_scaffold_gives_each_step_once_and_no_data_instructions(tmp_path, notebook):
    """The scaffold's README says what to do and how it is graded; the handout adds the steps,
    once; its task reads no dataset, so there is no DATA.md to point to."""
    from grader.commands.build import build
    from grader.commands.handout import make_handout
    from grader.commands.new import scaffold
    from grader.course import catalog

    root = tmp_path / "course"
    scaffold(root, "x", notebook)
    assignment = catalog.load("x", root)
    build(assignment)
    fresh = make_handout(assignment, tmp_path / "handout")
    readme = (fresh / "README.md").read_text()
    steps = [INSTALL, "./run.sh YOUR_STUDENT_ID", "grader check x", "grader package x"]
    assert [readme.count(step) for step in steps] == [1, 1, 1, 1], readme
    assert [readme.index(step) for step in steps] == sorted(readme.index(step) for step in steps)
    assert readme.count("pip install") == 2 and readme.count("## ") == 6, readme  # 2 sections of its own, 4 steps
    assert "./run.sh 12332426" not in readme and "--student-id YOUR_STUDENT_ID" in readme
    assert not (fresh / "DATA.md").exists() and "DATA.md" not in readme and "MNIST" not in readme


@pytest.mark.parametrize("assignment_id", ["colored_mnist", "cvae_ood"])
def test_an_assignment_that_reads_a_dataset_says_how_to_get_it(tmp_path, assignment_id):
    from grader.commands.handout import make_handout
    from grader.course import catalog

    assignment = catalog.load(assignment_id, REPO)
    fresh = make_handout(assignment, tmp_path / "handout")
    data = (fresh / "DATA.md").read_text()
    assert f"`{assignment.spec.dataset.default}` (default, as graded)" in data and "--download" in data


def test_cpu_torch_is_an_optional_command_of_its_own_that_fails_fast():
    """Not a requirements.txt line (pip would retry an unreachable index for every package): a
    command that asks PyTorch's index for the image's torch pins only, with no retries."""
    from grader.sandbox.image import CPU_TORCH_INDEX, STUDENT_REQUIREMENTS

    words = CPU_TORCH_INSTALL.split()
    assert words[:2] == ["pip", "install"]
    assert "--retries 0" in CPU_TORCH_INSTALL and "--timeout 10" in CPU_TORCH_INSTALL
    assert f"--index-url {CPU_TORCH_INDEX}" in CPU_TORCH_INSTALL and "--extra-index-url" not in CPU_TORCH_INSTALL
    torch = [r for r in STUDENT_REQUIREMENTS if r.startswith(("torch==", "torchvision=="))]
    assert [w for w in words if "==" in w] == torch
    for requirements in REPO.glob("skeleton/*/requirements.txt"):
        assert "index-url" not in requirements.read_text(), requirements
