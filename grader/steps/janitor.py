"""The janitor: a process of a long-lived grading worker's own that deletes what the worker puts in
its trash, at the lowest CPU priority.

A submission waits for its folders' rename into the trash (workspace.discard), never for their
deletion. Done in the worker (a thread) the deletion took CPU and the worker's interpreter lock at
the very moments a round of submissions ended together and the next ones were being set up; here
it takes what the CPUs have to spare. It reads NUL-ended paths on its standard input, deletes each
one that is an entry of a trash (named as discard names them, in a folder of this user that
others cannot write in), removes an emptied trash after `linger` seconds without work, and ends
when the worker closes the pipe (or is gone): what it had not deleted then is an entry of a
process that is gone, which the next `empty_trash` of any grader removes.

Started with `python -I -S -c`: standard library only (and grader.safe_fs, which is)."""

from __future__ import annotations

import os
import re
import select
import stat
import sys
from pathlib import Path

from grader.safe_fs import remove_tree

# A trash entry's name, as discard gives it: <pid>-<process start>-<random>, whose deletion it is.
ENTRY = re.compile(r"^(\d+)-(\d*)-[0-9a-f]{32}$")
NICE = 19


def is_private_folder(info: os.stat_result) -> bool:
    """A folder (not a link) of this user that no one else may write in: what a trash must be."""
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def remove_if_empty(trash: Path) -> None:
    try:
        trash.rmdir()  # once empty, nothing of the grader's stays in the temp folder
    except OSError:
        pass


def is_trash_entry(path: Path) -> bool:
    """A path discard made: an entry by its name, in a trash. Anything else is refused: the pipe
    is the worker's, but a path that went wrong must never delete what it names."""
    if not path.is_absolute() or not ENTRY.match(path.name):
        return False
    try:
        return is_private_folder(os.lstat(path.parent))
    except OSError:
        return False


def run(stdin: int, linger: float) -> None:
    """Delete what arrives on `stdin` until it closes."""
    pending = b""
    emptied: set[Path] = set()  # trashes this process deleted from and has not removed yet
    while True:
        ready, _, _ = select.select([stdin], [], [], linger if emptied else None)
        if not ready:  # no work for `linger` seconds: a round of submissions is over
            for trash in emptied:
                remove_if_empty(trash)
            emptied.clear()
            continue
        chunk = os.read(stdin, 1 << 16)
        if not chunk:
            return
        *paths, pending = (pending + chunk).split(b"\0")
        for raw in paths:
            path = Path(os.fsdecode(raw))
            if is_trash_entry(path):
                remove_tree(path)
                emptied.add(path.parent)


def main(argv: list[str]) -> None:
    os.nice(NICE)
    run(sys.stdin.fileno(), float(argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
