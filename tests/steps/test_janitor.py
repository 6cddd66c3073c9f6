"""The janitor deletes trash entries handed to it through a pipe, and nothing else."""

import os
import threading
import time
import uuid

from grader.steps import janitor


def entry(trash, pid=os.getpid()):
    path = trash / f"{pid}-123-{uuid.uuid4().hex}"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "f").write_text("x")
    return path


def test_it_deletes_trash_entries_and_refuses_anything_else(tmp_path):
    trash = tmp_path / "trash"
    trash.mkdir(mode=0o700)
    os.chmod(trash, 0o700)
    mine = entry(trash)
    elsewhere = tmp_path / "precious"  # not named as discard names entries
    (elsewhere / "data").mkdir(parents=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # others may write in it: not a trash
    planted = entry(shared)
    read, write = os.pipe()
    done = threading.Thread(target=janitor.run, args=(read, 0.2))
    done.start()
    for path in (mine, elsewhere, planted, "relative/" + mine.name):
        os.write(write, os.fsencode(str(path)) + b"\0")
    os.close(write)  # the worker's end: the janitor finishes and returns
    done.join(10)
    os.close(read)
    assert not done.is_alive()
    assert not mine.exists()
    assert (elsewhere / "data").is_dir() and (planted / "sub" / "f").is_file()


def test_it_takes_paths_in_pieces_and_removes_the_emptied_trash_after_a_quiet_spell(tmp_path):
    trash = tmp_path / "trash"
    trash.mkdir(mode=0o700)
    os.chmod(trash, 0o700)
    first, second = entry(trash), entry(trash)
    read, write = os.pipe()
    done = threading.Thread(target=janitor.run, args=(read, 0.3))
    done.start()
    os.write(write, os.fsencode(str(first)) + b"\0" + os.fsencode(str(second))[:10])  # half a path: waits
    deadline = time.monotonic() + 10
    while first.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # a quiet spell: the trash is not empty, so it stays
    assert not first.exists() and second.is_dir() and trash.is_dir()
    os.write(write, os.fsencode(str(second))[10:] + b"\0")
    while trash.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not trash.exists()
    os.close(write)
    done.join(10)
    os.close(read)
    assert not done.is_alive()
