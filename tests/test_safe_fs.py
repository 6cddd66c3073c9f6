"""Host-side reads, copies and walks of folders a sandbox wrote: no link is followed, only
regular files are opened, sizes and depths are capped."""

from __future__ import annotations

import os

import pytest

from grader.safe_fs import TreeTooLarge, UnsafeFile, copy_file, open_new, read_bytes, read_text, remove_tree, walk


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
