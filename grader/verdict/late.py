"""Late policy: how late a submission is and what that costs, from the rubric's `late:` block,
the submission's time and per-student extensions.

`assess` is pure (scores in, an outcome out), like score.py; `apply_late` writes its outcome into
a report, keeping the score before the penalty so that applying it again changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from grader.course.spec import LatePolicy
from grader.errors import GraderError

if TYPE_CHECKING:
    from grader.reports.report import Report

UNIT_SECONDS = {"day": 86400.0, "hour": 3600.0}


class LateOutcome(BaseModel):
    due: str  # the due date that applied (an extension's, if any), ISO 8601
    submitted_at: str | None
    units_late: int  # days (or hours) late, each started one counting whole
    unit: str
    penalty: float  # points taken off
    score_before: float
    note: str  # one line for the report and the gradebook


@dataclass(frozen=True)
class Extension:
    due: dt.datetime | None = None  # a new due date
    days: float = 0.0  # or extra days on the rubric's


def parse_time(text: str, where: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise GraderError(f"{where}: {text!r} is not a date and time (e.g. 2026-11-20T23:59+01:00)") from None
    if stamp.tzinfo is None:
        raise GraderError(f"{where}: {text!r} has no time zone (add one, e.g. +01:00 or Z)")
    return stamp


def load_extensions(path: Path) -> dict[str, Extension]:
    """A CSV with a student_id column and a `due` (new due date) or `days` (extra days) column."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read extensions: {exc}", path) from None
    rows = list(csv.DictReader(text.splitlines()))
    columns = {c.strip().lower() for c in (rows[0].keys() if rows else [])}
    if "student_id" not in columns or not columns & {"due", "days"}:
        raise GraderError("extensions CSV needs a student_id column and a due or days column", path)
    extensions: dict[str, Extension] = {}
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        student = row["student_id"]
        if not student:
            continue
        where = f"{path}:{line}"
        if row.get("due"):
            extensions[student] = Extension(due=parse_time(row["due"], where))
        elif row.get("days"):
            try:
                extensions[student] = Extension(days=float(row["days"]))
            except ValueError:
                raise GraderError(f"{where}: days {row['days']!r} is not a number") from None
        else:
            raise GraderError(f"{where}: student {student} has neither due nor days")
    return extensions


def assess(score: float, max_score: float, policy: LatePolicy, submitted_at: dt.datetime | None, *,
           marked_late: bool | None = None, extension: Extension | None = None) -> LateOutcome:
    """What lateness costs. `marked_late` is the LMS's own verdict where it gives one (Canvas's
    _LATE): a download's file times may be the download's, so the LMS decides whether a
    submission is late and the file time only how late (at least one unit when marked)."""
    due = policy.due
    if extension and extension.due:
        due = extension.due
    elif extension and extension.days:
        due = due + dt.timedelta(days=extension.days)
    unit = UNIT_SECONDS[policy.unit]
    units = 0
    if submitted_at is not None:
        over = (submitted_at - due).total_seconds() - policy.grace_minutes * 60
        units = math.ceil(over / unit) if over > 0 else 0
    if marked_late is True:
        units = max(units, 1)
    elif marked_late is False:
        units = 0
    percent = min(units * policy.penalty_per_unit, policy.max_penalty_percent)
    # Percent of the full marks, or of the score where bonus points lift it above them, so that
    # a 100% penalty leaves nothing.
    penalty = round(min(score, max(max_score, score) * percent / 100), 4)
    when = submitted_at.isoformat(timespec="minutes") if submitted_at else "unknown time"
    if units == 0:
        note = ""
    else:
        note = (f"late: {units} {policy.unit}{'s' if units != 1 else ''} after {due.isoformat(timespec='minutes')}"
                f"{' (extended)' if extension else ''}, submitted {when}"
                f"{' (LMS marked it late)' if marked_late else ''}: -{penalty:g} points ({percent:g}%)")
    return LateOutcome(due=due.isoformat(), submitted_at=submitted_at.isoformat() if submitted_at else None,
                       units_late=units, unit=policy.unit, penalty=penalty, score_before=score, note=note)


def apply_late(report: Report, policy: LatePolicy | None, extensions: dict[str, Extension] | None = None) -> None:
    """Set report.late and the penalised score. Only graded submissions are charged."""
    if policy is None or report.status != "graded":
        return
    raw = report.late.score_before if report.late else report.score
    origin = report.origin
    # A download's file times say nothing of when each student submitted (grader.steps.lms.download_times).
    trusted = origin is not None and origin.submitted_at and origin.time_from != "download"
    submitted = parse_time(origin.submitted_at, report.stem) if trusted else None
    # Only Canvas marks lateness in its names; elsewhere the file time decides.
    marked = (origin.late_marker if origin and origin.lms == "canvas"
              else (True if origin and origin.late_marker else None))
    outcome = assess(raw, report.max_score, policy, submitted, marked_late=marked,
                     extension=(extensions or {}).get(report.student_id or ""))
    report.late = outcome
    report.score = round(raw - outcome.penalty, 4)
