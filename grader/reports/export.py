"""Grades back to the LMS: a gradebook CSV in the LMS's import format (Canvas's gradebook CSV,
Moodle's grading worksheet, or a generic one) from a folder of graded reports, every student of a
roster included, and one feedback page per student named for the LMS's bulk upload.

The scores are the reports' own, late penalty included; feedback pages show only what each
item's visibility lets a student see."""

from __future__ import annotations

import csv
import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError
from grader.inert import for_csv
from grader.reports.report import Report, load_report
from grader.reports.visibility import write_student_page
from grader.steps.lms import SubmissionOrigin
from grader.steps.roster import Roster, RosterStudent, read_roster

EXPORT_LMS = ("canvas", "moodle", "generic")
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                  "Grade can be changed",
                  "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Exported:
    gradebook: Path
    feedback_dir: Path
    feedback_zip: Path
    rows: int
    skipped: list[str]  # one line each: reports that gave no row, and why
    notes: list[str] = field(default_factory=list)  # warnings: roster rows not usable, students not in it, scales


def load_reports(graded: Path) -> list[Report]:
    """The reports of the last `grade` into this folder: those whose submission its grades.csv
    lists (older report folders left there are ignored), or every */report.json without one.
    Reports are found by their folders, not by paths made from the gradebook's names: a name is
    written there made inert for a spreadsheet, and its folder may be a shortened, hashed form
    (grader/steps/naming.py)."""
    if not graded.is_dir():
        raise GraderError("not a folder of graded submissions", graded)
    reports = []
    for path in sorted(graded.glob("*/report.json")):
        try:
            reports.append(load_report(path))
        except (OSError, ValueError) as exc:
            raise GraderError(f"cannot read report: {str(exc).splitlines()[0]}", path) from None
    gradebook = graded / "grades.csv"
    if gradebook.is_file():
        with open(gradebook, newline="", encoding="utf-8") as f:
            listed = {row["submission"] for row in csv.DictReader(f) if row.get("submission")}
        reports = [r for r in reports if for_csv(r.stem) in listed]
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


def missing_report(student: RosterStudent, assignment: str, max_score: float, dataset: str | None = None) -> Report:
    """A roster student's row when nothing was submitted: `missing`, 0 points, "no submission"."""
    return Report(source="", stem=f"missing_{student.student_id or student.lms_id}", student_id=student.student_id,
                  name=student.name, assignment=assignment, dataset=dataset, status="missing", message="no submission",
                  max_score=max_score, origin=SubmissionOrigin(lms=student.lms, lms_user_id=student.lms_id or None,
                                                               time_from="lms"))


def roster_reports(reports: list[Report], roster: Roster) -> list[Report]:
    """The reports, then a `missing` one for each roster student no report is for, so the
    gradebook holds every enrolled student."""
    missing = roster.without({r.student_id for r in reports},
                             {r.origin.lms_user_id for r in reports if r.origin and r.origin.lms == roster.lms})
    return reports + [missing_report(s, reports[0].assignment, reports[0].max_score) for s in missing]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def _known(report: Report, roster: Roster | None) -> RosterStudent | None:
    if roster is None:
        return None
    lms_id = report.origin.lms_user_id if report.origin and report.origin.lms == roster.lms else None
    return roster.by_lms_id(lms_id) or roster.by_student_id(report.student_id)


def _score_cell(report: Report) -> str:
    # A grader failure is not the student's zero: the cell stays empty for the TA to settle.
    return "" if report.status in ("error", "crashed") else f"{report.score:g}"


def student_feedback(report: Report) -> str:
    """One line a student may read (never the TA's flags): why it was not graded, the score, the late penalty."""
    if report.status in ("error", "crashed", "timeout") and not report.message:
        return report.status
    parts = [report.message] if report.status != "graded" and report.message else []
    if report.status != "missing":
        parts.append(f"score {report.score:g} / {report.max_score:g}")
    if report.late and report.late.note:
        parts.append(report.late.note)
    return "; ".join(parts)


def _note(report: Report) -> str:
    notes = ([report.message] if report.status != "graded" and report.message else []) + report.flags
    if report.late and report.late.note:
        notes.append(report.late.note)
    return " | ".join(notes)


def canvas_column(assignment_name: str, canvas_assignment_id: str | None) -> str:
    """Canvas matches an existing assignment by 'Name (id)'; a bare name makes a new one."""
    return f"{assignment_name} ({canvas_assignment_id})" if canvas_assignment_id else assignment_name


def write_canvas_csv(reports: list[Report], path: Path, column: str, roster: Roster | None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CANVAS_FIXED + [column])
        for report in reports:
            known = _known(report, roster)
            canvas_id = known.lms_id if known else (
                report.origin.lms_user_id if report.origin and report.origin.lms == "canvas" else "")
            writer.writerow([for_csv(cell) for cell in (known.name if known else report.name or "", canvas_id or "",
                             report.student_id or "", known.login if known else "", known.section if known else "",
                             _score_cell(report))])  # names inert as in grades.csv


def write_moodle_worksheet(reports: list[Report], path: Path, roster: Roster | None) -> None:
    """Moodle's grading worksheet ("Upload grading worksheet" imports it, matching rows by Identifier):
    the roster's own columns and cells where it is a worksheet, with Grade and Feedback comments filled in."""
    columns = list(roster.columns) if roster and roster.kind == "moodle worksheet" else list(MOODLE_COLUMNS)
    for wanted in ("Grade", "Maximum grade", "Feedback comments"):
        if wanted not in columns:
            columns.append(wanted)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        for report in reports:
            known = _known(report, roster)
            participant = known.lms_id if known and known.lms_id else (
                report.origin.lms_user_id if report.origin and report.origin.lms == "moodle" else None)
            row = {c.strip(): v for c, v in known.row.items()} if known and roster.kind == "moodle worksheet" else {}
            row.setdefault("Identifier", f"Participant {participant}" if participant else "")
            row.setdefault("Full name", known.name if known else report.name or "")
            row.setdefault("Email address", known.email if known else "")
            row["Grade"] = "" if _score_cell(report) == "" else f"{report.score:.2f}"
            row["Maximum grade"] = row.get("Maximum grade") or f"{report.max_score:.2f}"
            row["Feedback comments"] = student_feedback(report)
            writer.writerow({c: for_csv(row.get(c.strip(), "")) for c in columns})


def write_generic_csv(reports: list[Report], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "name", "score", "max_score", "late_penalty", "status", "submitted_at", "note"])
        for r in reports:
            writer.writerow([for_csv(cell) for cell in (r.student_id or "", r.name or "", _score_cell(r),
                                                        f"{r.max_score:g}",
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
    listed = read_roster(roster, tz=rubric_due.tzinfo if rubric_due else None) if roster else None
    if listed and lms != "generic" and listed.lms != lms:
        raise GraderError(f"roster is a {listed.kind}, not {lms}'s", roster)
    notes: list[str] = []
    if listed:
        notes += [f"roster: {problem}" for problem in listed.problems]
        reports = roster_reports(reports, listed)
        notes += [f"{r.stem}: student {r.student_id} is not in the roster {roster.name} (a row all the same)"
                  for r in reports if _known(r, listed) is None]
        if lms == "moodle":
            scales = {s.row.get("Maximum grade", "").strip() for s in listed.students} - {""}
            if any(_number(m) not in (None, reports[0].max_score) for m in scales):
                notes.append(f"Moodle's maximum grade is {', '.join(sorted(scales))}, the rubric's "
                             f"{reports[0].max_score:g}: the grades are the rubric's points, not rescaled")
    target.parent.mkdir(parents=True, exist_ok=True)
    if lms == "canvas":
        name = assignment_name or reports[0].assignment
        write_canvas_csv(reports, target, canvas_column(name, canvas_assignment_id), listed)
    elif lms == "moodle":
        write_moodle_worksheet(reports, target, listed)
    else:
        write_generic_csv(reports, target)
    feedback_dir = feedback_dir or target.with_name(target.stem + "_feedback")
    feedback_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for report in reports:
        if report.status == "missing":
            continue  # nothing was submitted: the gradebook's reason is all there is to say
        page = feedback_dir / feedback_name(report, lms)
        write_student_page(report, page, rubric_due=rubric_due, published=published)
        written.append(page)
    feedback_zip = feedback_dir.with_suffix(".zip")
    with zipfile.ZipFile(feedback_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for page in written:
            archive.write(page, page.relative_to(feedback_dir).as_posix())
    return Exported(target, feedback_dir, feedback_zip, len(reports), skipped, notes)
