"""Who a submission belongs to, when it came from an LMS bulk download or a course's own naming.

Canvas names each file `lastfirst[_LATE]_USERID_SUBMISSIONID_ORIGINALNAME` (resubmissions get
`-1`, `-2` before the extension of ORIGINALNAME); the student ID is read from ORIGINALNAME, the
name the student gave their upload, because Canvas's USERID is not the ID the seed comes from.
Moodle gives one folder per student, `Full Name_PARTICIPANT_assignsubmission_file_`, holding
what the student uploaded. `--id-pattern` covers any other naming with named groups. With a
roster (grader.steps.roster) the LMS's own IDs in the names say whose an upload is, so the upload
may be called anything: a single file, an oddly named zip, a Moodle folder of loose files.

Everything here reads names only: what a student chose as a file name is inert text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from grader.errors import GraderError
from grader.steps.naming import parse_stem, submission_stem
from grader.steps.roster import Roster, RosterStudent

LMS_CHOICES = ("canvas", "moodle")

CANVAS_NAME = re.compile(r"^(?P<lastfirst>[^_]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<original>.+)$")
CANVAS_RESUBMISSION = re.compile(r"^(?P<stem>.+?)-(?P<attempt>\d{1,3})$")
MOODLE_FOLDER = re.compile(r"^(?P<fullname>.+)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")


class SubmissionOrigin(BaseModel):
    """Where a submission came from, as recorded in its report: what the LMS said about it
    (kept for the gradebook and the feedback file names) and the file's time."""

    lms: str | None = None  # canvas, moodle, pattern, or None for the course's studentID_name
    file_name: str = ""  # the name as downloaded
    submitted_at: str | None = None  # when it was submitted, ISO 8601 UTC (see time_from)
    time_from: str = "file"  # file: the file's modification time; lms: the LMS's roster or worksheet;
    # download: file times that all fall within minutes of each other (the download's), not charged
    late_marker: bool = False  # the LMS marked it late (Canvas's _LATE)
    attempt: int = 0  # Canvas resubmission number (0 for the first upload)
    lms_user_id: str | None = None  # Canvas USERID, Moodle participant ID
    lms_submission_id: str | None = None  # Canvas SUBMISSIONID
    lms_folder: str | None = None  # Moodle's per-student folder name
    lms_sort_name: str | None = None  # Canvas's lastfirst, Moodle's full name


@dataclass(frozen=True)
class Identity:
    """One submission's owner, or why it has none (`error`): a batch grades the rest."""

    source: Path  # the path to grade (for Moodle, the upload inside the student's folder)
    student_id: str | None
    name: str | None
    origin: SubmissionOrigin
    error: str | None = None
    stem: str | None = None  # the submission's name and report folder when not the source's (a Moodle folder)
    upload_name: str | None = None  # a single uploaded file's own name (Canvas prefixes it with its IDs)


def file_time(path: Path) -> str | None:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")


def compile_pattern(pattern: str | None) -> re.Pattern | None:
    """An --id-pattern, checked: it must compile and name a student_id group."""
    if pattern is None:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise GraderError(f"--id-pattern {pattern!r} is not a valid regular expression: {exc}") from None
    if "student_id" not in compiled.groupindex:
        raise GraderError(f"--id-pattern {pattern!r} has no (?P<student_id>...) group")
    return compiled


def _from_pattern(source: Path, pattern: re.Pattern) -> Identity:
    origin = SubmissionOrigin(lms="pattern", file_name=source.name, submitted_at=file_time(source))
    # Tried on the whole name first, then without the extension, so either style of pattern works.
    match = pattern.fullmatch(source.name) or pattern.fullmatch(submission_stem(source))
    if not match or not match.group("student_id"):
        return Identity(source, None, None, origin, f"name {source.name!r} does not match "
                                                    f"--id-pattern {pattern.pattern!r}")
    groups = match.groupdict()
    origin.late_marker = bool(groups.get("late"))
    return Identity(source, groups["student_id"], groups.get("name") or groups["student_id"], origin)


def _from_roster(origin: SubmissionOrigin, known: RosterStudent) -> None:
    if known.submitted_at:
        origin.submitted_at, origin.time_from = known.submitted_at, "lms"


def _canvas(source: Path, roster: Roster | None = None) -> Identity:
    origin = SubmissionOrigin(lms="canvas", file_name=source.name, submitted_at=file_time(source))
    match = CANVAS_NAME.match(source.name)
    if not match:
        return Identity(source, None, None, origin,
                        f"name {source.name!r} is not Canvas's lastfirst[_LATE]_USERID_SUBMISSIONID_NAME")
    origin.late_marker = bool(match["late"])
    origin.lms_user_id, origin.lms_submission_id = match["user"], match["submission"]
    origin.lms_sort_name = match["lastfirst"]
    original = match["original"]
    stem = (original[:-4] if original.lower().endswith(".zip")
            else (original.rsplit(".", 1)[0] if "." in original else original))
    known = roster.by_lms_id(match["user"]) if roster else None
    if known and known.student_id:
        # The roster says whose it is: the upload's own name is free. A trailing -N is Canvas's resubmission mark.
        resubmitted = CANVAS_RESUBMISSION.match(stem)
        upload = original
        if resubmitted:
            origin.attempt = int(resubmitted["attempt"])
            upload = resubmitted["stem"] + original[len(stem):]
        _from_roster(origin, known)
        single = source.is_file() and not original.lower().endswith(".zip")
        return Identity(source, known.student_id, known.name, origin, upload_name=upload if single else None)
    resubmitted = CANVAS_RESUBMISSION.match(stem)
    if resubmitted and parse_stem(resubmitted["stem"]):
        stem, origin.attempt = resubmitted["stem"], int(resubmitted["attempt"])
    parsed = parse_stem(stem)
    if not parsed:
        why = (f"Canvas user {match['user']} is not in the roster {roster.path.name}" if roster and not known else
               f"the roster gives Canvas user {match['user']} no SIS User ID" if known else
               "expected studentID_name; use --roster or --id-pattern for another naming")
        return Identity(source, None, match["lastfirst"], origin,
                        f"the uploaded file's own name {original!r} does not start with the student ID ({why})")
    return Identity(source, parsed[0], known.name if known else parsed[1], origin)


def _moodle(source: Path, roster: Roster | None = None) -> Identity:
    origin = SubmissionOrigin(lms="moodle", file_name=source.name, lms_folder=source.name)
    match = MOODLE_FOLDER.match(source.name) if source.is_dir() else None
    if not match:
        origin.submitted_at = file_time(source)
        return Identity(source, None, None, origin,
                        f"{source.name!r} is not a Moodle folder (Full Name_ID_assignsubmission_file_)")
    origin.lms_user_id, origin.lms_sort_name = match["participant"], match["fullname"]
    uploads = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    # One uploaded zip or folder is the submission; loose files are graded as the folder itself.
    inner = uploads[0] if len(uploads) == 1 and (uploads[0].is_dir() or uploads[0].suffix.lower() == ".zip") else None
    target = inner or source
    origin.submitted_at = file_time(inner) if inner else max((t for t in map(file_time, uploads) if t), default=None)
    if roster:
        known = roster.by_lms_id(match["participant"]) or roster.by_name(match["fullname"])
        if known and known.student_id:
            _from_roster(origin, known)
            # The student's folder names the submission: two students' uploads may share a name.
            return Identity(target, known.student_id, known.name or match["fullname"], origin, stem=source.name)
    parsed = parse_stem(submission_stem(inner)) if inner else None
    if not parsed:
        what = f"the upload {inner.name!r} does" if inner else f"the {len(uploads)} files uploaded do"
        why = (f"participant {match['participant']} is not in the roster {roster.path.name} or has no student ID there"
               if roster else "expected one studentID_name.zip; use --roster or --id-pattern for another naming")
        return Identity(target, None, match["fullname"], origin,
                        f"Moodle folder {source.name!r}: {what} not carry the student ID ({why})", stem=source.name)
    return Identity(target, parsed[0], match["fullname"], origin)


def identify(path: Path, lms: str | None = None, pattern: str | re.Pattern | None = None,
             roster: Roster | None = None) -> Identity:
    """Who `path` belongs to, by the LMS's naming (and its roster), a pattern, or the course's studentID_name."""
    path = Path(path)
    if isinstance(pattern, str):
        pattern = compile_pattern(pattern)
    if pattern is not None:
        return _from_pattern(path, pattern)
    if lms == "canvas":
        return _canvas(path, roster)
    if lms == "moodle":
        return _moodle(path, roster)
    if lms is not None:
        raise GraderError(f"unknown LMS {lms!r} (choose from {', '.join(LMS_CHOICES)})")
    origin = SubmissionOrigin(file_name=path.name, submitted_at=file_time(path))
    parsed = parse_stem(submission_stem(path))
    if not parsed:
        return Identity(path, None, None, origin, "cannot read the student ID from the name "
                                                  f"{submission_stem(path)!r}: expected studentID_name (or pass "
                                                  "--student-id, --lms or --id-pattern)")
    return Identity(path, parsed[0], parsed[1], origin)


def _candidates(folder: Path, lms: str | None) -> list[Path]:
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX")))
    if lms == "moodle":
        return [p for p in entries if p.is_dir() and MOODLE_FOLDER.match(p.name)
                and MOODLE_FOLDER.match(p.name)["plugin"] == "file"]
    return [p for p in entries if p.is_file() or p.is_dir()]


def discover(paths: list[Path], lms: str | None, pattern: re.Pattern | None,
             roster: Roster | None = None) -> list[Identity]:
    """Each submission of an LMS download (folders of them, or single ones), identified. A name
    that cannot be read is an Identity with an error, so it is a rejected row, not a stop."""
    found: list[Identity] = []
    for path in paths:
        if not path.exists():
            raise GraderError("no such file or folder", path)
        single = (lms == "moodle" and path.is_dir() and MOODLE_FOLDER.match(path.name)) or path.is_file()
        if single:
            found.append(identify(path, lms, pattern, roster))
            continue
        candidates = _candidates(path, lms)
        if not candidates:
            raise GraderError(f"no {lms or 'matching'} submissions found in this folder", path)
        found.extend(identify(p, lms, pattern, roster) for p in candidates)
    return found


def latest_per_student(identities: list[Identity]) -> tuple[list[Identity], dict[Path, str]]:
    """Of several submissions of one student (Canvas resubmissions, say), the newest file wins:
    the highest resubmission number, then the latest file time, then the name."""
    by_id: dict[str, list[Identity]] = {}
    for ident in identities:
        if ident.student_id:
            by_id.setdefault(ident.student_id, []).append(ident)
    winners: set[Path] = set()
    notes: dict[Path, str] = {}
    for student_id, group in by_id.items():
        group.sort(key=lambda i: (i.origin.attempt, i.origin.submitted_at or "", i.source.name))
        winner = group[-1]
        winners.add(winner.source)
        if len(group) > 1:
            notes[winner.source] = (f"student {student_id} submitted {len(group)} times; graded the latest "
                                    f"({winner.origin.file_name}), ignored "
                                    f"{', '.join(i.origin.file_name for i in group[:-1])}")
    kept = [i for i in identities if not i.student_id or i.source in winners]
    return kept, notes


DOWNLOAD_WINDOW_MINUTES = 10  # file times of a whole batch this close together are a download's, not submissions'
DOWNLOAD_MIN_SUBMISSIONS = 3


def download_times(times: list[str | None]) -> tuple[dt.datetime, dt.datetime] | None:
    """(earliest, latest) when every one of a batch's file times (at least three) falls within
    DOWNLOAD_WINDOW_MINUTES: the times a bulk download or a copy gave the files, not when each
    student submitted. None when they are spread out (or too few to tell)."""
    stamps = sorted(dt.datetime.fromisoformat(t) for t in times if t)
    if len(stamps) < DOWNLOAD_MIN_SUBMISSIONS or len(stamps) != len(times):
        return None
    if (stamps[-1] - stamps[0]).total_seconds() > DOWNLOAD_WINDOW_MINUTES * 60:
        return None
    return stamps[0], stamps[-1]
