"""What a student may see of a report: each rubric item's `visibility` (Gradescope's vocabulary)
decides. The TA's report.json and report.html show everything; results.json, the student page
and the feedback files show only what this module lets through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from grader.reports.report import PAGES, Report, encodable, write_page
from grader.verdict.score import ItemResult


def due_of(report: Report, rubric_due: dt.datetime | None = None) -> dt.datetime | None:
    """The due date that applies to this student (an extension's, when the late policy gave one)."""
    if report.late:
        return dt.datetime.fromisoformat(report.late.due)
    return rubric_due


def shown_to_student(item: ItemResult, *, now: dt.datetime, due: dt.datetime | None, published: bool) -> bool:
    if item.visibility == "visible":
        return True
    if item.visibility == "after_due_date":
        return published or (due is not None and now >= due)
    if item.visibility == "after_published":
        return published
    return False  # hidden: never


def student_items(report: Report, *, now: dt.datetime | None = None, rubric_due: dt.datetime | None = None,
                  published: bool = False) -> list[ItemResult]:
    now = now or dt.datetime.now(dt.UTC)
    due = due_of(report, rubric_due)
    return [i for i in report.items if shown_to_student(i, now=now, due=due, published=published)]


def write_student_page(report: Report, path: Path, *, rubric_due: dt.datetime | None = None, published: bool = False,
                       now: dt.datetime | None = None) -> Path:
    """The page a student gets back: the items they may see, the total, the late note; never
    hidden items, and never the TA's runs, logs or flags."""
    report = encodable(report)  # a name that is not UTF-8 keeps visible escapes, like every page
    items = student_items(report, now=now, rubric_due=rubric_due, published=published)
    withheld = [i for i in report.items if i not in items]
    return write_page(path, PAGES.get_template("student.html.j2").render(r=report, items=items, withheld=len(withheld)))
