"""Shared fixtures: a copy of the tiny assignment (seconds to grade, no torch) and zip builders."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from grader.course import catalog
from grader.sandbox import LocalSandbox

REPO = Path(__file__).resolve().parent.parent
TINY = Path(__file__).resolve().parent / "fixtures" / "tiny"
TINY_NB = Path(__file__).resolve().parent / "fixtures" / "tiny_nb"


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(TINY, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def tiny_nb_root(tmp_path: Path) -> Path:
    """A copy of the tiny notebook assignment (a kernel start per run, no torch)."""
    root = tmp_path / "course_nb"
    shutil.copytree(TINY_NB, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def tiny(tiny_root: Path) -> catalog.Assignment:
    return catalog.load("tiny", tiny_root)


ATTACK_BACKEND_ENV = "GRADER_ATTACK_BACKEND"


def grading_backend() -> str:
    """Where the slow attack suites grade: in containers when a Docker daemon answers and the
    grading image is built (as in CI: that is where a published grade is decided), else the
    local backend. Once per run, not both (each grading trains a network):
    GRADER_ATTACK_BACKEND=local (or docker) picks the other one on purpose."""
    from grader.sandbox import docker
    from grader.sandbox.image import image_tag

    chosen = os.environ.get(ATTACK_BACKEND_ENV)
    if chosen:
        assert chosen in ("local", "docker"), f"{ATTACK_BACKEND_ENV} must be local or docker, not {chosen!r}"
        return chosen
    return "docker" if docker.daemon_answers() and docker.image_present(image_tag()) else "local"


@pytest.fixture
def sandbox() -> LocalSandbox:
    return LocalSandbox()


def write_zip(path: Path, files: dict[str, bytes | str], folder: str | None = None) -> Path:
    """A zip holding `files` (name -> content), optionally inside one folder."""
    with zipfile.ZipFile(path, "w") as z:
        for name, content in files.items():
            z.writestr(f"{folder}/{name}" if folder else name, content)
    return path


def student_files(assignment: catalog.Assignment, source: str = "solution") -> dict[str, str]:
    base = assignment.solution_dir if source == "solution" else assignment.skeleton_dir
    return {rel: (base / rel).read_text() for rel in assignment.spec.editable}


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `grader` command, as a user runs it."""
    full_env = {**os.environ, "COLUMNS": "200", "GRADER_BACKEND": "local", **(env or {})}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def shipped_ids() -> list[str]:
    """The repository's assignments as the catalog finds them: a new folder under assignments/ is
    covered by every test that takes its ids from here, with no edit to the test."""
    return catalog.list_ids(REPO)


def hidden_test_outcomes(assignment: catalog.Assignment, student_dir: Path, work: Path) -> dict:
    """Every hidden test of the assignment against the editable files in student_dir (the rest
    from the skeleton), as the grader runs and checks them; {tests item id: HiddenTestsOutcome}."""
    from grader.course.spec import TestsItem
    from grader.steps import hidden_tests

    shutil.copytree(assignment.skeleton_dir, work)
    for rel in assignment.spec.editable:
        if (student_dir / rel).is_file():
            shutil.copyfile(student_dir / rel, work / rel)
    sandbox = LocalSandbox()
    expected = hidden_tests.expected_outputs(assignment, sandbox)
    probe = hidden_tests.run_step(assignment, work, sandbox, assignment.spec.limits)
    items = [i for i in assignment.rubric.items if isinstance(i, TestsItem)]
    return hidden_tests.check_tests(items, assignment, probe, expected)


def hidden_test_results(assignment: catalog.Assignment, student_dir: Path, work: Path) -> dict[str, bool]:
    """{case name: passed} of every hidden test (see hidden_test_outcomes)."""
    outcomes = hidden_test_outcomes(assignment, student_dir, work)
    return {c.name: c.passed for outcome in outcomes.values() for c in outcome.cases}


def points_of_tests_items(assignment: catalog.Assignment, outcomes: dict) -> dict[str, float]:
    """The points each tests item earns for these outcomes, by the grader's own scoring."""
    from grader.verdict.evidence import Evidence
    from grader.verdict.score import score

    result = score(assignment.rubric, assignment.dataset(), Evidence(tests=outcomes))
    return {item.id: item.points for item in result.items if item.id in outcomes}


@contextmanager
def solution_module(assignment: catalog.Assignment, name: str):
    """A module of the assignment's reference solution, imported for the duration."""
    sys.path.insert(0, str(assignment.solution_dir))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(assignment.solution_dir))
        sys.modules.pop(name, None)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_dom(page: Path, profile: Path) -> tuple[str, list[str]]:
    """A page as headless Chromium renders it (the DOM after scripts), and its console errors."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=2000", "--dump-dom", page.as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    errors = [ln for ln in result.stderr.splitlines() if "CONSOLE" in ln and ("ERROR" in ln or "Uncaught" in ln)]
    return result.stdout, errors


def chromium_layout(page: Path, profile: Path, measure: str, width: int = 1280, height: int = 900) -> tuple[dict, Path]:
    """Where things are on a page as headless Chromium lays it out in a window `width` x `height`:
    the page is copied beside itself with a script that stores `(measure)()` (a JavaScript
    function returning plain data, e.g. bounding boxes) on the body, read back from the DOM; and
    a screenshot of that first screen (a PNG beside the copy), for a person to look at."""
    import html
    import json
    import re

    probe = page.with_name(f"{page.stem}.layout-probe.html")
    script = f"<script>document.body.setAttribute('data-layout', JSON.stringify(({measure})()));</script>"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
              f"--user-data-dir={profile}", f"--window-size={width},{height}", "--virtual-time-budget=2000"]
    result = subprocess.run(common + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', result.stdout)
    assert found, result.stdout[-2000:]
    shot = probe.with_suffix(".png")
    done = subprocess.run(common + [f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    probe.unlink()
    return json.loads(html.unescape(found[1])), shot


def allow_sleep(tiny_root: Path) -> dict[str, str]:
    """The tiny experiment sleeps as long as a SLEEP file says; let submissions carry one.
    Returns the reference's editable files."""
    files = student_files(catalog.load("tiny", tiny_root))
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text().replace("editable: [answer.py]", "editable: [answer.py, SLEEP]"))
    return files


def notebook_submission(tmp_path: Path, assignment: catalog.Assignment, edit: tuple[str, str] | None = None) -> Path:
    """The tiny notebook assignment's reference as a student's zip, with one edit if given."""
    from grader.course.skeleton import plain_solution, replace_in_source

    text = plain_solution((assignment.solution_dir / "tiny.ipynb").read_text(), "tiny.ipynb")
    if edit:
        text = replace_in_source(text, "tiny.ipynb", *edit)
    return write_zip(tmp_path / "20250042_ana.zip", {"tiny.ipynb": text})


def solution_only_lines(assignment) -> set[str]:
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


# Multi-threaded CPU-bound hogs: numpy matrix products on two threads each.
MATMUL_HOG = ("import os\nos.environ['OMP_NUM_THREADS'] = os.environ['OPENBLAS_NUM_THREADS'] = '2'\n"
              "import numpy as np\na = np.random.rand(300, 300)\nwhile True: a = (a @ a) / 300.0\n")


@contextmanager
def cpu_hogs(per_core: int = 8):
    """`per_core` busy two-threaded processes per core on the host while the block runs (a
    departmental server the night of a deadline); every one is computing before the block starts
    and killed after it."""
    hogs = []
    try:
        hogs = [subprocess.Popen([sys.executable, "-c", MATMUL_HOG], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for _ in range(per_core * (os.cpu_count() or 1))]
        time.sleep(1.0)
        assert all(hog.poll() is None for hog in hogs)
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
