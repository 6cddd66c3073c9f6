"""An LMS's roster: who is enrolled, by the LMS's own IDs, with their student IDs and names.

A Canvas gradebook export (`Student, ID, SIS User ID, SIS Login ID, Section`, then one column per
assignment) maps Canvas's user ID (the USERID of its download names) to the SIS User ID; a Moodle
grading worksheet (`Identifier` "Participant N", `Full name`, `Email address`, `Status`, ...,
`Last modified (submission)`) maps the participant ID of its download folders to the student, whose
ID is the worksheet's `ID number` column when the site shows it, else the digits of the email
address; a Moodle participants export (`First name`, `Last name`, `ID number`, `Email address`)
has no participant IDs and is matched by full name. With a roster, an upload may be called anything.

Everything read here is text the LMS wrote about students: inert, never a path or a command.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID")
MOODLE_PARTICIPANT = re.compile(r"^\s*Participant\s+(?P<id>\d+)\s*$", re.IGNORECASE)
# Moodle writes "Last modified (submission)" in the exporting user's language and time zone.
MOODLE_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p", "%d %B %Y, %H:%M",
                       "%d/%m/%Y, %H:%M", "%Y-%m-%d %H:%M")
SUBMITTED_COLUMNS = ("last modified (submission)", "submitted_at", "submitted at", "submitted")
NOT_STUDENTS = ("Points Possible", "Student, Test", "Test Student")  # rows Canvas's export adds


@dataclass(frozen=True)
class RosterStudent:
    lms: str  # canvas or moodle
    lms_id: str  # Canvas user ID, Moodle participant ID ("" in a participants export)
    student_id: str | None  # SIS User ID, ID number, or the email's digits; None when the roster has none
    name: str  # Canvas's "Last, First", Moodle's full name
    login: str = ""  # Canvas's SIS Login ID
    section: str = ""
    email: str = ""
    submitted_at: str | None = None  # ISO 8601 UTC, where the roster says when (Moodle's worksheet)
    row: dict = field(default_factory=dict, compare=False, hash=False)  # the roster's own cells, for the export


@dataclass
class Roster:
    lms: str
    kind: str  # "canvas gradebook", "moodle worksheet", "moodle participants"
    path: Path
    columns: list[str]
    students: list[RosterStudent]
    problems: list[str] = field(default_factory=list)  # one line per row that could not be used fully

    def by_lms_id(self, lms_id: str | None) -> RosterStudent | None:
        return next((s for s in self.students if lms_id and s.lms_id == lms_id), None)

    def by_student_id(self, student_id: str | None) -> RosterStudent | None:
        return next((s for s in self.students if student_id and s.student_id == student_id), None)

    def without(self, student_ids: set[str | None], lms_ids: set[str | None]) -> list[RosterStudent]:
        """The students none of these student IDs or LMS IDs is: those who submitted nothing."""
        return [s for s in self.students if not ((s.student_id and s.student_id in student_ids)
                                                 or (s.lms_id and s.lms_id in lms_ids))]

    def by_name(self, name: str | None) -> RosterStudent | None:
        wanted = _fold(name)
        found = [s for s in self.students if wanted and _fold(s.name) == wanted]
        return found[0] if len(found) == 1 else None


def _fold(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


def _cell(row: dict, *names: str) -> str:
    lowered = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
    return next((lowered[n.lower()] for n in names if lowered.get(n.lower())), "")


def email_digits(email: str) -> str | None:
    digits = "".join(ch for ch in email.split("@")[0] if ch.isdigit())
    return digits if len(digits) >= 4 else None


def parse_lms_time(text: str, tz: dt.tzinfo | None) -> str | None:
    """An LMS's date cell as ISO 8601 UTC; one without a zone is in `tz` (else this machine's).
    None for "-", an empty cell or a format not known here."""
    text = " ".join(text.split())
    if not text or text == "-":
        return None
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        stamp = None
        for fmt in MOODLE_TIME_FORMATS:
            try:
                stamp = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz) if tz else stamp.astimezone()
    return stamp.astimezone(dt.UTC).isoformat(timespec="seconds")


def _canvas(rows: list[dict], path: Path, tz: dt.tzinfo | None) -> tuple[list[RosterStudent], list[str]]:
    students, problems = [], []
    for line, row in enumerate(rows, start=2):
        name, canvas_id = _cell(row, "Student"), _cell(row, "ID")
        if not canvas_id.isdigit() or any(name.startswith(n) for n in NOT_STUDENTS):
            continue  # the "Points Possible" row, Canvas's test student
        sis = _cell(row, "SIS User ID") or None
        if not sis:
            problems.append(f"{path.name}:{line}: {name} (Canvas user {canvas_id}) has no SIS User ID")
        when = _cell(row, *SUBMITTED_COLUMNS)
        students.append(RosterStudent("canvas", canvas_id, sis, name, login=_cell(row, "SIS Login ID"),
                                      section=_cell(row, "Section"), email=_cell(row, "Email", "Email address"),
                                      submitted_at=parse_lms_time(when, tz) if when else None, row=row))
    return students, problems


def _moodle(rows: list[dict], path: Path, tz: dt.tzinfo | None,
            worksheet: bool) -> tuple[list[RosterStudent], list[str]]:
    students, problems = [], []
    for line, row in enumerate(rows, start=2):
        if worksheet:
            match = MOODLE_PARTICIPANT.match(_cell(row, "Identifier"))
            if not match:
                problems.append(f"{path.name}:{line}: Identifier {_cell(row, 'Identifier')!r} is not 'Participant N'")
                continue
            participant, name = match["id"], _cell(row, "Full name")
        else:
            participant = ""
            name = _cell(row, "Full name") or " ".join(filter(None, (_cell(row, "First name"),
                                                                      _cell(row, "Last name", "Surname"))))
        email = _cell(row, "Email address", "Email")
        student_id = _cell(row, "ID number", "Student ID") or email_digits(email)
        if not student_id:
            problems.append(f"{path.name}:{line}: {name} has no ID number and no digits in the email address {email!r}")
        when = _cell(row, *SUBMITTED_COLUMNS)
        submitted = parse_lms_time(when, tz) if when else None
        if when and when != "-" and submitted is None:
            problems.append(f"{path.name}:{line}: {name}: cannot read the submission time {when!r}")
        students.append(RosterStudent("moodle", participant, student_id or None, name, email=email,
                                      submitted_at=submitted, row=row))
    return students, problems


def read_roster(path: Path, tz: dt.tzinfo | None = None) -> Roster:
    """A Canvas gradebook export or a Moodle grading worksheet / participants export, told apart by
    their columns. `tz`: the zone of times written without one (Moodle's), e.g. the due date's."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = [c.strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GraderError(f"cannot read roster: {exc}", path) from None
    lowered = {c.lower() for c in columns}
    if all(c.lower() in lowered for c in CANVAS_COLUMNS):
        lms, kind = "canvas", "canvas gradebook"
        students, problems = _canvas(rows, path, tz)
    elif "identifier" in lowered and "full name" in lowered:
        lms, kind = "moodle", "moodle worksheet"
        students, problems = _moodle(rows, path, tz, worksheet=True)
    elif "email address" in lowered and ({"full name", "first name"} & lowered):
        lms, kind = "moodle", "moodle participants"
        students, problems = _moodle(rows, path, tz, worksheet=False)
    else:
        raise GraderError("roster is neither a Canvas gradebook export (Student, ID, SIS User ID, ...) nor a Moodle "
                          "grading worksheet (Identifier, Full name, Email address, ...) or participants export", path)
    if not students:
        raise GraderError(f"roster ({kind}) lists no students", path)
    return Roster(lms, kind, path, columns, students, problems)
