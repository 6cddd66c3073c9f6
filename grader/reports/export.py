"""Grades back to the LMS: a gradebook CSV (Canvas's import format, or a generic one) from a
folder of graded reports, and one feedback page per student named for the LMS's bulk upload.

The scores are the reports' own, late penalty included; feedback pages show only what each
item's visibility lets a student see."""

from __future__ import annotations

import csv
import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.inert import for_csv
from grader.reports.report import Report, load_report
from grader.reports.visibility import write_student_page

EXPORT_LMS = ("canvas", "moodle", "generic")
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Exported:
    gradebook: Path
    feedback_dir: Path
    feedback_zip: Path
    rows: int
    skipped: list[str]  # one line each: reports that gave no row, and why


def load_reports(graded: Path) -> list[Report]:
    """The reports of the last `grade` into this folder: the submissions its grades.csv lists
    (older report folders left there are ignored), or every */report.json without one."""
    if not graded.is_dir():
        raise GraderError("not a folder of graded submissions", graded)
    gradebook = graded / "grades.csv"
    if gradebook.is_file():
        with open(gradebook, newline="", encoding="utf-8") as f:
            stems = [row["submission"] for row in csv.DictReader(f) if row.get("submission")]
        paths = [graded / stem / "report.json" for stem in stems]
    else:
        paths = sorted(graded.glob("*/report.json"))
    reports = []
    for path in paths:
        try:
            reports.append(load_report(path))
        except (OSError, ValueError) as exc:
            raise GraderError(f"cannot read report: {str(exc).splitlines()[0]}", path) from None
    if not reports:
        raise GraderError("holds no graded reports (run `grader grade ... --out` into it first)", graded)
    return reports


def one_per_student(reports: list[Report]) -> tuple[list[Report], list[str]]:
    """The latest report of each student; reports with no student ID are skipped, with a note."""
    latest: dict[str, Report] = {}
    skipped: list[str] = []
    for report in reports:
        if not report.student_id:
            skipped.append(f"{report.stem}: no student ID ({report.message or report.status})")
            continue
        key = (report.origin.attempt if report.origin else 0, report.origin.submitted_at or "" if report.origin else "")
        held = latest.get(report.student_id)
        held_key = (held.origin.attempt if held and held.origin else 0,
                    held.origin.submitted_at or "" if held and held.origin else "") if held else None
        if held is None or key >= held_key:
            if held is not None:
                skipped.append(f"{held.stem}: an older submission of student {report.student_id}")
            latest[report.student_id] = report
        else:
            skipped.append(f"{report.stem}: an older submission of student {report.student_id}")
    return sorted(latest.values(), key=lambda r: r.student_id or ""), skipped


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """A Canvas gradebook export, by SIS User ID: gives each row Canvas's own Student, ID,
    SIS Login ID and Section, so the import matches students exactly."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read roster: {exc}", path) from None
    if not rows or "SIS User ID" not in rows[0]:
        raise GraderError("roster needs Canvas's gradebook export columns (Student, ID, SIS User ID, ...)", path)
    return {row["SIS User ID"].strip(): row for row in rows if (row.get("SIS User ID") or "").strip()}


def _score_cell(report: Report) -> str:
    # A grader failure is not the student's zero: the cell stays empty for the TA to settle.
    return "" if report.status == "error" else f"{report.score:g}"


def _note(report: Report) -> str:
    notes = ([report.message] if report.status != "graded" and report.message else []) + report.flags
    if report.late and report.late.note:
        notes.append(report.late.note)
    return " | ".join(notes)


def canvas_column(assignment_name: str, canvas_assignment_id: str | None) -> str:
    """Canvas matches an existing assignment by 'Name (id)'; a bare name makes a new one."""
    return f"{assignment_name} ({canvas_assignment_id})" if canvas_assignment_id else assignment_name


def write_canvas_csv(reports: list[Report], path: Path, column: str, roster: dict[str, dict[str, str]] | None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CANVAS_FIXED + [column])
        for report in reports:
            known = (roster or {}).get(report.student_id or "", {})
            canvas_id = known.get("ID") or (report.origin.lms_user_id if report.origin and report.origin.lms == "canvas" else "")
            writer.writerow([for_csv(cell) for cell in (known.get("Student") or report.name or "", canvas_id or "",
                             report.student_id or "", known.get("SIS Login ID", ""), known.get("Section", ""),
                             _score_cell(report))])  # names inert as in grades.csv


def write_generic_csv(reports: list[Report], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "name", "score", "max_score", "late_penalty", "status", "submitted_at", "note"])
        for r in reports:
            writer.writerow([for_csv(cell) for cell in (r.student_id or "", r.name or "", _score_cell(r), f"{r.max_score:g}",
                             f"{r.late.penalty:g}" if r.late else "0", r.status,
                             r.origin.submitted_at or "" if r.origin else "", _note(r))])


def feedback_name(report: Report, lms: str) -> str:
    """The file name the LMS's bulk feedback upload matches to the student: Canvas wants the
    lastfirst_USERID_SUBMISSIONID_ prefix of its download, Moodle the per-student folder."""
    origin = report.origin
    if lms == "canvas" and origin and origin.lms == "canvas" and origin.lms_user_id:
        return f"{origin.lms_sort_name}_{origin.lms_user_id}_{origin.lms_submission_id}_feedback.html"
    if lms == "moodle" and origin and origin.lms == "moodle" and origin.lms_folder:
        return f"{origin.lms_folder}/feedback.html"
    return f"{report.student_id}_{SAFE_NAME.sub('_', report.name or 'student')}_feedback.html"


def export(graded: Path, target: Path, *, lms: str, assignment_name: str | None = None,
           canvas_assignment_id: str | None = None, roster: Path | None = None, feedback_dir: Path | None = None,
           published: bool = False, rubric_due: dt.datetime | None = None) -> Exported:
    if lms not in EXPORT_LMS:
        raise GraderError(f"unknown LMS {lms!r} (choose from {', '.join(EXPORT_LMS)})")
    reports, skipped = one_per_student(load_reports(graded))
    if not reports:
        raise GraderError("no report carries a student ID: nothing to export", graded)
    target.parent.mkdir(parents=True, exist_ok=True)
    if lms == "canvas":
        name = assignment_name or reports[0].assignment
        write_canvas_csv(reports, target, canvas_column(name, canvas_assignment_id), read_roster(roster) if roster else None)
    else:
        write_generic_csv(reports, target)
    feedback_dir = feedback_dir or target.with_name(target.stem + "_feedback")
    feedback_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for report in reports:
        page = feedback_dir / feedback_name(report, lms)
        write_student_page(report, page, rubric_due=rubric_due, published=published)
        written.append(page)
    feedback_zip = feedback_dir.with_suffix(".zip")
    with zipfile.ZipFile(feedback_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for page in written:
            archive.write(page, page.relative_to(feedback_dir).as_posix())
    return Exported(target, feedback_dir, feedback_zip, len(reports), skipped)
