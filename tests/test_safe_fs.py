"""Host-side reads, copies and walks of folders a sandbox wrote: no link is followed, only
regular files are opened, sizes and depths are capped."""

from __future__ import annotations

import os

import pytest

from grader.safe_fs import (
    TreeTooLarge,
    UnsafeFile,
    copy_file,
    open_new,
    read_bytes,
    read_text,
    read_untrusted_bytes,
    remove_tree,
    walk,
)


def test_a_link_anywhere_on_the_way_is_refused(tmp_path):
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("host secret")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "log.txt").symlink_to(secret)
    (ws / "logs").symlink_to(secret.parent)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        read_text(ws / "log.txt", ws)
    with pytest.raises(UnsafeFile, match="a folder on the way is a link"):
        read_text(ws / "logs" / "secret.txt", ws)
    with pytest.raises(UnsafeFile, match="outside"):
        read_text(secret, ws)


def test_fifos_and_devices_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnsafeFile, match=r"not a regular file \(a FIFO\)"):
        read_bytes(tmp_path / "pipe")
    with pytest.raises(UnsafeFile, match="not a regular file"):
        read_bytes(tmp_path / "pipe", tmp_path)
    with pytest.raises(UnsafeFile):
        read_bytes(__import__("pathlib").Path("/dev/zero"), __import__("pathlib").Path("/dev"))


def test_reads_and_copies_stop_at_their_cap(tmp_path):
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(1 << 30)
    data, truncated = read_bytes(sparse, cap=1000)
    assert len(data) == 1000 and truncated
    assert copy_file(sparse, tmp_path / "out" / "copy.bin", cap=5000)
    copied = (tmp_path / "out" / "copy.bin").read_bytes()
    assert copied.startswith(b"\0" * 5000) and copied.endswith(b"[grader] copied only the first 5000 bytes\n")
    assert len(copied) < 5100


def test_a_fresh_file_replaces_a_planted_link_instead_of_writing_through_it(tmp_path):
    target = tmp_path / "host.txt"
    target.write_text("untouched")
    (tmp_path / "log.txt").symlink_to(target)
    with open_new(tmp_path / "log.txt") as f:
        f.write(b"new")
    assert target.read_text() == "untouched" and (tmp_path / "log.txt").read_bytes() == b"new"
    assert not (tmp_path / "log.txt").is_symlink()


def test_walks_stop_at_depth_and_count_and_never_follow_links(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f.txt").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path)
    entries = {e.rel: e for e in walk(tmp_path)}
    assert set(entries) == {"a", "a/b", "a/b/f.txt", "loop"} and entries["loop"].is_symlink
    with pytest.raises(TreeTooLarge, match="more than 2 files"):
        list(walk(tmp_path, max_entries=2))
    with pytest.raises(TreeTooLarge, match="deeper than 2 levels"):
        list(walk(tmp_path, max_depth=2))


def test_a_tree_deeper_than_pythons_recursion_limit_is_removed(tmp_path):
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        for _ in range(1200):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
    remove_tree(tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_log_tail_reads_the_end_through_safe_fs_and_skips_the_graders_notes(tmp_path):
    from grader.safe_fs import log_tail, read_tail

    log = tmp_path / "run.log"
    log.write_text("x" * 3_000_000 + "\nepoch 1\nepoch 2\n[grader] stopped at the CPU-time limit\n\n")
    assert log_tail(log, tmp_path) == "epoch 2"
    assert log_tail(log, tmp_path, lines=2) == "epoch 1 | epoch 2"
    assert len(read_tail(log, tmp_path, cap=100)) == 100
    (tmp_path / "link.log").symlink_to(log)
    os.mkfifo(tmp_path / "fifo.log")
    assert log_tail(tmp_path / "link.log", tmp_path) == "" and log_tail(tmp_path / "fifo.log", tmp_path) == ""
    assert log_tail(tmp_path / "missing.log", tmp_path) == ""


def test_remove_inside_removes_a_planted_link_on_the_way_never_its_target(tmp_path):
    from grader.safe_fs import remove_inside

    host = tmp_path / "host"
    (host / "hidden_tests").mkdir(parents=True)
    (host / "hidden_tests" / "keep.txt").write_text("host file")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".grader").symlink_to(host)
    remove_inside(ws / ".grader" / "hidden_tests", ws)
    assert (host / "hidden_tests" / "keep.txt").read_text() == "host file" and not (ws / ".grader").exists()
    (ws / ".grader" / "hidden_tests").mkdir(parents=True)
    remove_inside(ws / ".grader" / "hidden_tests", ws)
    assert (ws / ".grader").is_dir() and not (ws / ".grader" / "hidden_tests").exists()


def test_untrusted_reads_refuse_links_fifos_and_oversized_files(tmp_path):
    (tmp_path / "ok.json").write_text("{}")
    assert read_untrusted_bytes(tmp_path / "ok.json") == b"{}"
    os.symlink("/etc/passwd", tmp_path / "link.json")
    with pytest.raises(OSError):
        read_untrusted_bytes(tmp_path / "link.json")
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(OSError, match="not a regular file"):
        read_untrusted_bytes(tmp_path / "fifo.json")  # never blocks waiting for a writer
    (tmp_path / "big.json").write_bytes(b"0" * 2000)
    with pytest.raises(OSError, match="larger than"):
        read_untrusted_bytes(tmp_path / "big.json", cap=1000)


# ----------------------------------------------------------------------------- every read goes through safe_fs

HOST_ZONES = ("steps", "verdict", "reports", "batch")  # host-side modules that handle workspace files
READS = {"read_text", "read_bytes", "open"}
SHUTIL_COPIES = {"copy", "copy2", "copyfile", "copyfileobj", "copytree"}

# Reads that are not of a folder a sandbox wrote: (module, enclosing function, call) -> why it is trusted.
# A new read of a workspace file goes through grader.safe_fs instead of joining this list.
TRUSTED_READS = {
    # the course's own files: skeleton, runner files, solutions, the grader's source
    ("steps/assets.py", "ensure_assets", "shutil.copytree"): "the assignment's skeleton into a fresh build folder",
    ("steps/hidden_tests.py", "_expected_key", "(Path(__file__).parents[1] / 'inside' / module).read_bytes"):
        "the grader's own source",
    ("steps/hidden_tests.py", "_expected_key", "source.read_bytes"): "the reference solution",
    ("steps/hidden_tests.py", "certain_records", "(assignment.folder / rel).read_bytes"): "the course's runner files",
    ("steps/hidden_tests.py", "reference_workspace", "shutil.copyfile"): "the reference solution",
    ("steps/hidden_tests.py", "reference_workspace", "shutil.copytree"): "the assignment's skeleton",
    ("steps/workspace.py", "copy_skeleton", "shutil.copytree"): "the assignment's skeleton (a submission's "
                                                                 "workspace, a trusted step's)",
    ("steps/workspace.py", "restore_protected", "source.read_bytes"): "the assignment's skeleton",
    ("steps/imports.py", "preload_modules", "(skeleton / script).read_text"): "a trusted step's script",
    ("steps/imports.py", "preload_modules", "(skeleton / f'{top}.py').read_text"): "the skeleton's modules",
    # what intake itself extracted (never run), and the archive it extracts from (checked member by member)
    ("steps/workspace.py", "prepare_workspace", "shutil.copyfile"): "the files intake extracted, before any step runs",
    ("steps/intake.py", "_extract_zip", "archive.open"): "a zip member, its name and size checked first",
    # the TA's files and the grader's own outputs
    ("verdict/late.py", "load_extensions", "Path(path).read_text"): "the TA's extensions file",
    ("reports/analytics.py", "read_similarity", "open"): "the grader's own similarity CSV",
    ("reports/export.py", "load_reports", "open"): "the grader's own grades.csv",
    ("reports/report.py", "load_report", "path.read_text"): "the grader's own report.json",
    ("steps/roster.py", "read_roster", "open"): "the TA's roster",
    ("batch/dask_client.py", "_payload_bytes", "source.read_bytes"): "the submission as the TA gave it (size checked)",
    # the kernel's own files
    ("batch/dask_worker.py", "filesystem_of", "Path('/proc/mounts').read_text"): "the kernel's mount table",
}


def _is_write(call, position: int = 1) -> bool:
    import ast

    mode = (call.args[position] if len(call.args) > position
            else next((k.value for k in call.keywords if k.arg == "mode"), None))
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wxa")


def file_reads(source: str) -> list[tuple[str, str]]:
    """(enclosing function, call) of every file read in a module that does not go through safe_fs:
    open() and Path.open/read_text/read_bytes (writes excepted), and shutil's copies."""
    import ast

    found: list[tuple[str, str]] = []

    def visit(node, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                func = child.func
                callee = ast.unparse(func)
                if isinstance(func, ast.Name) and func.id == "open" and not _is_write(child):
                    found.append((function, callee))
                elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "shutil":
                    if func.attr in SHUTIL_COPIES:
                        found.append((function, callee))
                elif (isinstance(func, ast.Attribute) and func.attr in READS and callee not in ("os.open",)
                      and not callee.startswith("safe_fs.") and not (func.attr == "open" and _is_write(child, 0))):
                    found.append((function, callee.rsplit(".", 1)[0] + "." + func.attr))
            visit(child, name)

    visit(ast.parse(source), "<module>")
    return found


def test_every_read_of_a_workspace_file_goes_through_safe_fs():
    from conftest import REPO

    untrusted, seen = [], set()
    for zone in HOST_ZONES:
        for path in sorted((REPO / "grader" / zone).glob("*.py")):
            module = path.relative_to(REPO / "grader").as_posix()
            for function, call in file_reads(path.read_text()):
                seen.add((module, function, call))
                if (module, function, call) not in TRUSTED_READS:
                    untrusted.append(f"grader/{module}: {function}: {call}(...)")
    assert set(TRUSTED_READS) <= seen, f"stale TRUSTED_READS entries: {set(TRUSTED_READS) - seen}"
    assert not untrusted, "read these through grader.safe_fs (or add a trusted read to TRUSTED_READS, saying why):\n" \
        + "\n".join(untrusted)


def test_the_read_finder_sees_the_reads_it_must():
    reads = file_reads("import shutil\ndef f(p, q):\n    open(p)\n    open(q, 'w')\n    p.read_text()\n"
                       "    shutil.copyfile(p, q)\n    safe_fs.read_text(p)\n    q.open('wb')\n")
    assert reads == [("f", "open"), ("f", "p.read_text"), ("f", "shutil.copyfile")]
