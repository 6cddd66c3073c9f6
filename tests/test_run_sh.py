"""run.sh's set-up decisions, without installing anything: the venv's python and the commands
run.sh may call are stand-ins that record their arguments."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ML = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["ml"]
TORCH_PINS = [r for r in ML if r.startswith(("torch==", "torchvision=="))]

# The venv's python: records its arguments; the index probe answers PROBE_RC, a pip install from
# the CPU index CPU_PIP_RC.
FAKE_PYTHON = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$CALLS"
case "$*" in
  *urlopen*) exit "${PROBE_RC:-1}" ;;
  *--index-url*) exit "${CPU_PIP_RC:-0}" ;;
esac
exit 0
"""


@pytest.fixture
def fake(tmp_path):
    venv, tools = tmp_path / "venv", tmp_path / "tools"
    (venv / "bin").mkdir(parents=True)
    tools.mkdir()
    for path, text in [(venv / "bin" / "python", FAKE_PYTHON), *[(venv / "bin" / n, "#!/bin/sh\nexit 0\n")
                                                                for n in ("grader", "ruff")],
                       *[(tools / n, "#!/bin/sh\nexit 0\n") for n in ("chromium", "apt-get", "sudo")]]:
        path.write_text(text)
        path.chmod(0o755)
    return tmp_path


def run_sh(fake: Path, *args: str, probe: int = 1, cpu_pip: int = 0) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = fake / "calls.txt"
    calls.write_text("")
    env = {**os.environ, "GRADER_VENV": str(fake / "venv"), "PYTHON": sys.executable, "CALLS": str(calls),
           "PROBE_RC": str(probe), "CPU_PIP_RC": str(cpu_pip), "PATH": f"{fake / 'tools'}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(REPO / "run.sh"), *args], cwd=fake, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done, calls.read_text().splitlines()


def installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("-m pip install")]


def test_the_demo_installs_what_grading_needs_and_tests_add_the_test_extra(fake):
    done, calls = run_sh(fake)
    assert installs(calls) == [f"-m pip install --disable-pip-version-check -e {REPO}[ml]"]  # no -q: progress shows
    assert "not reachable: torch comes from PyPI" in done.stderr and ".[ml]" in done.stderr
    stamps = list((fake / "venv").glob(".grader-deps-*"))
    assert [s.name.endswith("-ml") for s in stamps] == [True]
    assert "extras=ml\ntorch_from=pypi\nseconds=" in stamps[0].read_text()

    _, calls = run_sh(fake)  # set up: nothing installed, not even a probe
    assert calls == []
    _, calls = run_sh(fake, "test", "-x")  # the extras changed: reinstall with the test extra
    assert installs(calls)[-1] == f"-m pip install --disable-pip-version-check -e {REPO}[ml,test]"
    assert calls[-1] == "-m pytest -q -rs --durations=15 -x"
    assert [s.name.split("-")[-1] for s in (fake / "venv").glob(".grader-deps-*")] == ["ml,test"]
    for args in [(), ("test",), ("grader", "list")]:  # a test venv serves the demo and the grader too
        _, calls = run_sh(fake, *args)
        assert installs(calls) == [] and not any("urlopen" in c for c in calls)


def test_a_changed_pyproject_reinstalls(fake):
    run_sh(fake)
    stamp = next((fake / "venv").glob(".grader-deps-*"))
    stamp.rename(stamp.with_name(".grader-deps-0123456789abcdef-ml"))  # made from another pyproject.toml
    _, calls = run_sh(fake)
    assert len(installs(calls)) == 1 and len(list((fake / "venv").glob(".grader-deps-*"))) == 1


def test_torch_from_the_cpu_index_when_it_answers_then_the_project(fake):
    done, calls = run_sh(fake, probe=0)
    probe = next(c for c in calls if "urlopen" in c)
    assert "timeout=10" in probe and probe.endswith(CPU_INDEX)
    assert installs(calls) == [
        f"-m pip install --disable-pip-version-check --timeout 30 --retries 1 --index-url {CPU_INDEX} "
        + " ".join(TORCH_PINS),
        f"-m pip install --disable-pip-version-check -e {REPO}[ml]"]
    assert "CPU wheel index answers" in done.stderr
    assert "torch_from=cpu" in next((fake / "venv").glob(".grader-deps-*")).read_text()


def test_a_failing_cpu_index_falls_back_to_pypi(fake):
    done, calls = run_sh(fake, "test", probe=0, cpu_pip=1)
    assert len(installs(calls)) == 2 and installs(calls)[-1].endswith(f"-e {REPO}[ml,test]")
    assert "failed: torch comes from PyPI" in done.stderr
    assert "torch_from=pypi" in next((fake / "venv").glob(".grader-deps-*")).read_text()


def test_an_unreachable_index_costs_seconds(fake):
    """The real probe, against an address that does not answer: its timeout, not pip's retries."""
    import time

    snippet = REPO / "grader" / "commands" / "torch_cpu.sh"
    script = (f'source "{snippet}"; TORCH_CPU_INDEX=http://127.0.0.1:9/whl/cpu; '
              f'install_cpu_torch "{sys.executable}" torch==0; echo "from=$TORCH_FROM"')
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 15 and done.stdout.strip() == "from=pypi" and "not reachable" in done.stderr
