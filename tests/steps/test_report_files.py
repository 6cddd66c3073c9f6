"""A report's own files (logs, artifacts, grader_error.txt): into its folder, or held in memory by
a cluster worker that sends them on; read from the workspace like any untrusted file either way."""

from __future__ import annotations

import os

import pytest

from grader.steps.report_files import ReportFiles


@pytest.fixture()
def ws(tmp_path):
    folder = tmp_path / "workspace"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "run.log").write_text("epoch 1\nTraceback (most recent call last):\nValueError: bad\n")
    return folder


def test_into_the_folder(tmp_path, ws):
    files = ReportFiles(tmp_path / "report")
    files.copy("logs/run.log", ws / "logs" / "run.log", root=ws)
    files.write_text("grader_error.txt", "trace")
    assert (tmp_path / "report" / "logs" / "run.log").read_text().startswith("epoch 1")
    assert (tmp_path / "report" / "grader_error.txt").read_text() == "trace"
    assert files.tail("logs/run.log").endswith("ValueError: bad\n") and files.held == {}


def test_in_memory_nothing_is_written(tmp_path, ws):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    files = ReportFiles.in_memory(file_cap=1000, total_cap=10_000)
    files.copy("logs/run.log", ws / "logs" / "run.log", root=ws)
    files.write_text("grader_error.txt", "trace \udcff")  # a lone surrogate, as a traceback may hold
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert files.held["logs/run.log"] == (ws / "logs" / "run.log").read_bytes()
    assert files.held["grader_error.txt"] == b"trace \\udcff"
    assert files.tail("logs/run.log").endswith("ValueError: bad\n") and files.dropped == []


def test_in_memory_a_file_over_a_cap_is_dropped_but_its_end_still_read(ws):
    big = ws / "logs" / "big.log"
    big.write_text("x" * 5000 + "\nRuntimeError: late\n")
    files = ReportFiles.in_memory(file_cap=1000, total_cap=10_000)
    files.copy("logs/big.log", big, root=ws)
    files.copy("logs/run.log", ws / "logs" / "run.log", root=ws)
    assert files.dropped == ["logs/big.log"] and list(files.held) == ["logs/run.log"]
    assert files.tail("logs/big.log").endswith("RuntimeError: late\n")


def test_in_memory_the_total_cap_holds_across_files(ws):
    for k in range(3):
        (ws / "logs" / f"{k}.log").write_bytes(b"y" * 400)
    files = ReportFiles.in_memory(file_cap=1000, total_cap=1000)
    for k in range(3):
        files.copy(f"logs/{k}.log", ws / "logs" / f"{k}.log", root=ws)
    assert list(files.held) == ["logs/0.log", "logs/1.log"] and files.dropped == ["logs/2.log"]


@pytest.mark.parametrize("mode", ["folder", "memory"])
def test_a_link_planted_in_the_workspace_is_never_read(tmp_path, ws, mode):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    os.symlink(secret, ws / "logs" / "planted.log")
    files = ReportFiles(tmp_path / "report") if mode == "folder" else ReportFiles.in_memory(1000, 10_000)
    with pytest.raises(OSError):
        files.copy("logs/planted.log", ws / "logs" / "planted.log", root=ws)
    assert files.held == {} and not (tmp_path / "report" / "logs" / "planted.log").exists()


def test_in_memory_a_missing_file_is_not_found(ws):
    files = ReportFiles.in_memory(1000, 10_000)
    with pytest.raises(FileNotFoundError):
        files.copy("logs/none.log", ws / "logs" / "none.log", root=ws)
    with pytest.raises(FileNotFoundError):
        files.tail("logs/none.log")
