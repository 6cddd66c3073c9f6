"""A report's own files beside report.json and its page: the logs (logs/), each experiment's
artifacts (artifacts/) and grader_error.txt. Graded on this machine they go into the report's
folder. A cluster worker keeps them in memory and sends them to the client with the report:
writing them into a folder only to read them back cost it two folders and a file per log for
every submission, and deleting them again. Either way a workspace file is read like every other
untrusted file (safe_fs: never through a link, regular files only, within a cap)."""

from __future__ import annotations

import os
from pathlib import Path

from grader.safe_fs import COPY_CAP, TAIL_CAP, copy_file, open_regular, read_open, read_tail


class ReportFiles:
    """Where a report's own files go: `folder`, or memory (`in_memory`): `held` maps each
    relative path to its bytes, and `dropped` names what was over a cap (never held)."""

    def __init__(self, folder: Path | None, file_cap: int = COPY_CAP, total_cap: int = 0):
        self.folder = folder
        self.file_cap, self.total_cap = file_cap, total_cap
        self.held: dict[str, bytes] = {}
        self.dropped: list[str] = []
        self._tails: dict[str, str] = {}  # how a dropped log ends, for the root cause

    @classmethod
    def in_memory(cls, file_cap: int, total_cap: int) -> ReportFiles:
        """Kept here, to be sent on: a file over `file_cap` bytes, or past `total_cap` in all, is
        dropped (named in `dropped`), as a folder's files over the caps would be when sent."""
        return cls(None, file_cap, total_cap)

    def copy(self, rel: str, src: Path, root: Path) -> None:
        """The workspace file `src` (read below `root`) as `rel`. Raises OSError (FileNotFoundError
        when there is none) as copying it into the folder would."""
        if self.folder is not None:
            copy_file(src, self.folder / rel, root=root)
            return
        fd = open_regular(src, root)
        try:  # the size decides before anything is read into memory
            size = os.fstat(fd).st_size
            room = self.total_cap - sum(len(data) for data in self.held.values())
            data, cut = read_open(fd, size) if size <= min(self.file_cap, room) else (b"", True)
        finally:
            os.close(fd)
        if not cut:
            self.held[rel] = data
            return
        self.dropped.append(rel)  # over a cap, or it grew while read
        self._tails[rel] = read_tail(src, root)

    def write_text(self, rel: str, text: str) -> None:
        data = text.encode("utf-8", errors="backslashreplace")
        if self.folder is None:
            self.held[rel] = data
            return
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def tail(self, rel: str) -> str:
        """How the file `rel` ends (the last safe_fs.TAIL_CAP bytes) as text; OSError when it was not kept."""
        if self.folder is not None:
            return read_tail(self.folder / rel, self.folder)
        if rel in self._tails:
            return self._tails[rel]
        if rel not in self.held:
            raise FileNotFoundError(rel)
        return self.held[rel][-TAIL_CAP:].decode("utf-8", errors="replace")
