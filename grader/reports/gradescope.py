"""Gradescope's results.json for each report: what the batch writes beside every report, and what
a Gradescope run returns. The bundle that runs the rubric on Gradescope is grader/commands/gradescope.py."""

from __future__ import annotations

import json
from pathlib import Path

from grader.reports.report import Report, encodable, write_page

STATUS_TEXT = {"graded": "Graded", "error": "Grading failed", "timeout": "Timed out", "rejected": "Submission rejected",
               "crashed": "Grading crashed"}


def results_json(report: Report, *, ta: bool = False) -> dict:
    """Gradescope's results.json for one report. The total is given explicitly, because groups,
    the cap, bonus items and the late penalty make it differ from the sum of the tests.

    Students see it: items whose visibility is `hidden` are left out (their points still count
    in the total); `after_due_date` and `after_published` items keep that visibility, which
    Gradescope enforces. `ta=True` keeps every item, hidden ones tagged hidden."""
    items = report.items if ta else [i for i in report.items if i.visibility != "hidden"]
    output = [f"{STATUS_TEXT[report.status]}: {report.score:g}/{report.max_score:g}"
              f" (seed {report.seed}, dataset {report.dataset or 'none'})."]
    if report.late and report.late.note:
        output.append(f"{report.late.note} (score before the penalty {report.late.score_before:g}).")
    if len(items) < len(report.items):
        output.append(f"{len(report.items) - len(items)} more item(s) count toward the score but are not shown.")
    if report.message:
        output.append(report.message)
    output += [f"Warning: {w}" for w in report.warnings + report.flags]
    tests = []
    for n, item in enumerate(items, start=1):
        note = "" if item.counted else " Not counted: another item of its group scored higher."
        tests.append({
            "name": item.title + (" (bonus)" if item.bonus else ""),
            "number": str(n),
            "score": item.points,
            "max_score": item.max_points,
            "status": "passed" if item.status == "passed" else "failed",
            "output": item.message + note,
            "tags": [item.kind] + ([item.group] if item.group else []),
            "visibility": item.visibility,
        })
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
