"""The resume cache: a report under --out is reused when the submission, the assignment and the
grader are unchanged, so a stopped batch resumes where it was."""


from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from grader import __version__
from grader.course.catalog import Assignment
from grader.course.secret import secret_id
from grader.reports.report import Report, load_report
from grader.safe_fs import tree_digest

FAILED = ("timeout", "error", "crashed")  # what --retry-failed grades again


class _Recorder:
    """Takes what tree_digest feeds a digest, to feed it to many digests."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def update(self, data: bytes) -> None:
        self.chunks.append(bytes(data))


def assignment_bytes(assignment: Assignment) -> bytes:
    """What the assignment (spec and hidden tests, rubric, skeleton) and the course secret (by its
    public id: it seeds the held-out draws) add to every cache key, read once: a batch reads its
    files once, not once per submission."""
    recorded = _Recorder()
    recorded.update(f"secret {secret_id()}".encode())
    for root in (assignment.folder, assignment.rubric_path, assignment.skeleton_dir):
        recorded.update(b"\1")
        if root.exists():
            tree_digest(recorded, root)
    return b"".join(recorded.chunks)


def cache_key(source: Path, assignment: Assignment, dataset: str | None, backend: str,
              student_id: str | None = None, assignment_part: bytes | None = None) -> str:
    """Changes when the submission, the assignment (spec, rubric, tests, skeleton) or the grader does,
    or whose the submission is (a roster that now names its student: the seed follows the ID).
    The same on the client of a cluster run and in a local run, so either resumes the other.
    `assignment_part`: assignment_bytes(assignment), when the caller read it once for many keys."""
    digest = hashlib.sha256(f"{__version__}|{dataset}|{backend}".encode()
                            + (f"|{student_id}".encode() if student_id else b""))
    digest.update(b"\1")
    if source.exists():
        tree_digest(digest, source)
    digest.update(assignment_bytes(assignment) if assignment_part is None else assignment_part)
    return digest.hexdigest()


def cached_report(folder: Path, key: str | Callable[[], str], retry_failed: bool = False) -> Report | None:
    """The finished report of an earlier run of the same submission, assignment and grader, if any.
    Failed ones (timeout, error, crashed) count as finished unless retry_failed. `key`: the cache
    key, or what works it out, asked only when a report is there to compare."""
    path = folder / "report.json"
    if not path.is_file():
        return None
    try:
        report = load_report(path)
    except (ValueError, OSError):
        return None
    if report.cache_key != (key() if callable(key) else key) or (retry_failed and report.status in FAILED):
        return None
    return report
