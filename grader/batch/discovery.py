"""Which submissions a batch holds: the paths a TA gave expanded to submissions, the assignment
they fit when none is named, and one submission per student."""


from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.steps.naming import parse_stem, submission_stem


def _is_submission_entry(path: Path) -> bool:
    return path.suffix.lower() == ".zip" or (path.is_dir() and parse_stem(path.name) is not None)


def _is_batch_folder(folder: Path, assignment: Assignment) -> bool:
    """A folder of submissions (zips or studentID_name folders), not one submission."""
    if any((folder / rel).is_file() for rel in assignment.spec.editable):
        return False
    if parse_stem(folder.name):
        return False
    return any(_is_submission_entry(p) for p in folder.iterdir())


def expand_sources(paths: list[Path], assignment: Assignment) -> list[Path]:
    sources: list[Path] = []
    for path in paths:
        if not path.exists():
            raise GraderError("no such file or folder", path)
        if path.is_dir() and _is_batch_folder(path, assignment):
            sources.extend(sorted(p for p in path.iterdir() if _is_submission_entry(p)))
        else:
            sources.append(path)
    if not sources:
        raise GraderError("no submissions found in " + ", ".join(map(str, paths)))
    return sources


def _file_names(path: Path, limit: int = 2000) -> set[str]:
    """Base names of the files one submission (zip, folder or file) holds."""
    if path.is_file() and path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                return {PurePosixPath(n).name for n in archive.namelist()[:limit]}
        except (zipfile.BadZipFile, OSError, ValueError):  # ValueError: member names flagged UTF-8 that are not
            return set()  # intake rejects it later, with the reason
    if path.is_dir():
        return {p.name for _, p in zip(range(limit), path.rglob("*"))}
    return {path.name}


def _best_fit(names: set[str], assignments: list[Assignment]) -> list[Assignment]:
    """Assignments whose editable files are all there; of those, the ones with most editable
    files (a CNN submission holds a model.py too)."""
    fits = [a for a in assignments if {Path(rel).name for rel in a.spec.editable} <= names]
    most = max((len(a.spec.editable) for a in fits), default=0)
    return [a for a in fits if len(a.spec.editable) == most]


def guess_assignment(paths: list[Path], assignments: list[Assignment]) -> Assignment:
    """The assignment the submissions are for, from the files they hold. Every submission that
    fits one must fit the same; ambiguity is an error, never a guess."""
    submissions = []
    for path in paths:
        batch = path.is_dir() and any(_is_submission_entry(p) for p in path.iterdir())
        if batch:
            submissions += sorted(p for p in path.iterdir() if p.suffix.lower() == ".zip" or p.is_dir())
        else:
            submissions.append(path)
    votes: dict[str, int] = {}
    for submission in submissions:
        best = _best_fit(_file_names(submission), assignments)
        key = best[0].id if len(best) == 1 else " or ".join(a.id for a in best)
        if key:
            votes[key] = votes.get(key, 0) + 1
    if len(votes) == 1 and " or " not in next(iter(votes)):
        return next(a for a in assignments if a.id == next(iter(votes)))
    seen = ", ".join(f"{k} ({n})" for k, n in votes.items()) or "none holds all the editable files of one"
    raise GraderError(
        f"cannot tell which assignment to grade (submissions fit: {seen}; assignments: "
        f"{', '.join(a.id for a in assignments)}): pass --assignment"
    )


def latest_per_student(sources: list[Path]) -> tuple[list[Path], dict[Path, str]]:
    """Two submissions of one student ID: the newest file wins; the others are dropped with a note."""
    by_id: dict[str, list[Path]] = {}
    keep: list[Path] = []
    for source in sources:
        parsed = parse_stem(submission_stem(source))
        if parsed:
            by_id.setdefault(parsed[0], []).append(source)
        else:
            keep.append(source)
    notes: dict[Path, str] = {}
    for student_id, paths in by_id.items():
        paths.sort(key=lambda p: (p.stat().st_mtime, p.name))
        winner = paths[-1]
        keep.append(winner)
        if len(paths) > 1:
            notes[winner] = (
                f"student {student_id} submitted {len(paths)} times; graded the latest ({winner.name}), "
                f"ignored {', '.join(p.name for p in paths[:-1])}"
            )
    return [s for s in sources if s in keep], notes
