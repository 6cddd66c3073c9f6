"""Gradescope's results.json for each report: what the batch writes beside every report, and what
a Gradescope run returns. The bundle that runs the rubric on Gradescope is grader/commands/gradescope.py."""

from __future__ import annotations

import json
from pathlib import Path

from grader.reports.report import Report, encodable, item_title, status_warning, write_page
from grader.verdict.score import ItemResult

STATUS_TEXT = {"graded": "Graded", "error": "Grading failed", "timeout": "Timed out", "rejected": "Submission rejected",
               "crashed": "Grading crashed", "missing": "No submission"}


def _maxima(report: Report) -> dict[str, float]:
    """Each item's share of the total Gradescope shows (report.max_score), so the tests' max_score
    add up to it. A group (its items are alternatives: it scores its best) puts its full marks on
    its core item (the one worth most, the first of equals) and 0 on the others; a bonus item is
    out of 0 (Gradescope's extra credit); and when the cap is below what the groups add up to,
    every share is scaled by cap / that sum (the rubric 15 + 15 capped at 20 shows 10 + 10)."""
    core: dict[str, ItemResult] = {}
    for item in report.items:
        key = item.group or f"item:{item.id}"
        if not item.bonus and (key not in core or item.max_points > core[key].max_points):
            core[key] = item
    full = sum(i.max_points for i in core.values())
    scale = report.max_score / full if full else 1.0
    chosen = {id(i) for i in core.values()}
    return {item.id: round(item.max_points * scale, 4) if id(item) in chosen else 0.0 for item in report.items}


def _layout_notes(report: Report, maxima: dict[str, float]) -> list[str]:
    """What a student needs to read the tests' scores against the total."""
    notes = []
    full = {}
    for item in report.items:
        if not item.bonus:
            key = item.group or f"item:{item.id}"
            full[key] = max(full.get(key, 0.0), item.max_points)
    if any(item.group and not item.bonus and not maxima[item.id] for item in report.items):
        notes.append("Items of a group are alternatives: the group counts its best item, and its full marks are shown "
                     "on its main item (the others are out of 0).")
    if any(item.bonus for item in report.items):
        notes.append("Bonus items are extra credit (out of 0).")
    if sum(full.values()) > report.max_score:
        notes.append(f"The items' full marks add up to {sum(full.values()):g}, and at most {report.max_score:g} count: "
                     f"each is shown out of its share of {report.max_score:g}.")
    return notes


def results_json(report: Report, *, ta: bool = False) -> dict:
    """Gradescope's results.json for one report. The total is given explicitly; the tests are
    laid out to add up to it, so what a student sees per test agrees with the total:

    - max_score: each item's share of report.max_score (see _maxima: one item per group, bonus
      items out of 0, scaled down to the cap), so the max_scores add up to the total shown;
    - score: the points an item adds to the total (0 for an item its group did not count, with
      the points it earned in its output), then, only where they apply, a line that takes off what
      the cap removes and one for the late penalty (both out of 0), so the scores add up to the score.

    Students see it: items whose visibility is `hidden` are one line "N more items" with their
    points and share together (what the total tells anyway), never their names or messages;
    `after_due_date` and `after_published` items keep that visibility, which Gradescope enforces.
    `ta=True` keeps every item, hidden ones tagged hidden. The root cause of lost points (a crash)
    is stated once, at the top; item outputs refer to it instead of repeating it."""
    from grader.reports.visibility import short_message, student_cause

    items = report.items if ta else [i for i in report.items if i.visibility != "hidden"]
    maxima = _maxima(report)
    cause = student_cause(report)
    output = [f"{STATUS_TEXT[report.status]}: {report.score:g}/{report.max_score:g}"
              f" (seed {report.seed}, dataset {report.dataset or 'none'})."]
    warning = status_warning(report)
    if warning:
        output[0] = output[0][:-1] + f", but {warning}."
    if report.message:
        output.append(report.message)
    if cause and cause != report.message:
        output.append(f"Why points were lost: {cause}.")
    if report.late and report.late.note:
        output.append(f"{report.late.note} (score before the penalty {report.late.score_before:g}).")
    if len(items) < len(report.items):
        output.append(f"{len(report.items) - len(items)} more item(s) count toward the score but are not shown.")
    output += _layout_notes(report, maxima)
    output += [f"Warning: {w}" for w in report.warnings + report.flags]

    def added(item: ItemResult) -> float:
        return item.points if item.counted else 0.0

    tests = []
    for n, item in enumerate(items, start=1):
        note = ("" if item.counted
                else f" Not counted ({item.points:g} points): another item of its group scored higher.")
        tests.append({
            "name": item_title(item),
            "number": str(n),
            "score": added(item),
            "max_score": maxima[item.id],
            "status": "passed" if item.status == "passed" else "failed",
            "output": short_message(item.message, cause) + note,
            "tags": [item.kind] + ([item.group] if item.group else []),
            "visibility": item.visibility,
        })
    not_shown = [i for i in report.items if i not in items]
    if not_shown:
        tests.append({"name": f"{len(not_shown)} more item(s), not shown", "number": str(len(tests) + 1),
                      "score": round(sum(added(i) for i in not_shown), 4),
                      "max_score": round(sum(maxima[i.id] for i in not_shown), 4), "status": "failed" if any(
                          i.status != "passed" for i in not_shown) else "passed",
                      "output": "They count toward the score; what they test is not shown.", "tags": [],
                      "visibility": "visible"})
    before_late = report.late.score_before if report.late else report.score
    penalty = round(before_late - report.score, 4)
    capped = round(before_late - sum(added(i) for i in report.items), 4)
    if capped < 0:
        tests.append({"name": f"Cap: at most {report.max_score:g} points count", "number": str(len(tests) + 1),
                      "score": capped, "max_score": 0.0, "status": "passed",
                      "output": f"The items add up to {before_late - capped:g} points; the course counts at most "
                                f"{report.max_score:g}.", "tags": ["cap"], "visibility": "visible"})
    if report.late and penalty > 0:
        tests.append({"name": "Late penalty", "number": str(len(tests) + 1), "score": -penalty,
                      "max_score": 0.0, "status": "failed", "output": report.late.note, "tags": ["late"],
                      "visibility": "visible"})
    results = {
        "score": report.score,
        "execution_time": round(report.timings.get("total", 0.0), 2),
        "output": "\n".join(output),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    board = [{"name": i.leaderboard, "value": i.value, "order": i.leaderboard_order} for i in report.items
             if i.leaderboard and isinstance(i.value, (int, float)) and not isinstance(i.value, bool)]
    if board:
        results["leaderboard"] = board
    return results


def write_results(report: Report, path: Path, *, ta: bool = False) -> Path:
    return write_page(path, json.dumps(results_json(encodable(report), ta=ta), indent=2))


def write_student_outputs(report: Report, folder: Path, rubric_due=None) -> None:
    """What may reach the student: results.json (Gradescope's) and student.html."""
    from grader.reports.visibility import write_student_page

    write_results(report, folder / "results.json")
    write_student_page(report, folder / "student.html", rubric_due=rubric_due)
