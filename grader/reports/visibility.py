"""What a student may see of a report: each rubric item's `visibility` (Gradescope's vocabulary)
decides. The TA's report.json and report.html show everything; results.json, the student page
and the feedback files show only what this module lets through."""

from __future__ import annotations

import datetime as dt
import re
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


# The exception of a crash cause: "answer.py:22 SyntaxError: expected ':', every experiment failed".
_CRASH = re.compile(r"(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))(?::\s*(?P<detail>.*?))?"
                    r"(?:, (?:every experiment failed|[\w, ]+ failed.*))?$")
SEE_ABOVE = "the error stated above"


def student_cause(report: Report) -> str:
    """The root cause a student is told once, at the top: a failed run's crash (their own code's
    error, in their own terms). A cause drawn from one item is that item's message, which the
    item already shows (and a hidden item's must not reach them), so it is not repeated."""
    if report.cause and any(run.failed for run in report.runs):
        return report.cause
    return ""


def _mentions(message: str, cause: str) -> bool:
    m = _CRASH.search(cause)
    if not m:
        return False
    return m["name"] in message and (not m["detail"] or m["detail"].strip()[:60] in message)


def short_message(message: str, cause: str) -> str:
    """An item's message without the root cause stated at the top again: "result_log.txt: the run
    failed (not started: answer.py does not compile: SyntaxError: ...)" becomes "result_log.txt:
    the run failed with the error stated above"; a hidden-tests item keeps its count and names the
    cases that failed of it, and keeps every other failure as it was."""
    if not cause or not _mentions(message, cause):
        return message
    head, sep, rest = message.partition("; ")
    if re.fullmatch(r"\d+/\d+ tests passed", head):
        same = [part.partition(": ")[0] for part in rest.split("; ") if _mentions(part, cause)]
        other = [part for part in rest.split("; ") if not _mentions(part, cause)]
        return "; ".join([head] + ([f"{', '.join(same)}: {SEE_ABOVE}"] if same else []) + other)
    if " raised " in message:
        return message.split(" raised ", 1)[0] + f" raised {SEE_ABOVE}"
    if "the run failed" in message:
        return message.split("the run failed", 1)[0] + f"the run failed with {SEE_ABOVE}"
    where = message.partition(": ")[0] if ": " in message else ""
    return f"{where}: {SEE_ABOVE}" if where and not _mentions(where, cause) else f"failed with {SEE_ABOVE}"


def write_student_page(report: Report, path: Path, *, rubric_due: dt.datetime | None = None, published: bool = False,
                       now: dt.datetime | None = None) -> Path:
    """The page a student gets back: the items they may see, the total, the late note; never
    hidden items, and never the TA's runs, logs or flags."""
    report = encodable(report)  # a name that is not UTF-8 keeps visible escapes, like every page
    items = student_items(report, now=now, rubric_due=rubric_due, published=published)
    withheld = [i for i in report.items if i not in items]
    cause = student_cause(report)
    messages = [short_message(i.message, cause) for i in items]
    return write_page(path, PAGES.get_template("student.html.j2").render(r=report, items=list(zip(items, messages)),
                                                                         withheld=len(withheld), cause=cause))
