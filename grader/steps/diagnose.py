"""Why a submission lost points, in one line for the gradebook: the file, line and exception of
a crashed run ("model.py:61 SyntaxError, every experiment failed"), else the item that cost the
most. Paths are the student's own (model.py), never the grader's temporary folders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.reports.report import Report
    from grader.steps.report_files import ReportFiles

FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning))(?::\s*(?P<detail>.*))?$")
SANDBOX_ROOTS = ("/work/", "/workspace/")  # where the Docker backend mounts a workspace


CAUSE_CHARS = 200  # a root cause is one gradebook line: cut to this many characters

def student_path(path: str) -> str:
    """A path as the student knows it: relative to their submission."""
    if "/workspace/" in path:
        return path.split("/workspace/", 1)[1]
    for root in SANDBOX_ROOTS:
        if path.startswith(root):
            return path[len(root):]
    return path


def scrub(text: str, temp_root: Path) -> str:
    """Replace the grader's temporary folders in a message with the student's own relative paths."""
    root = str(temp_root).rstrip("/")
    for sub in ("workspace", "submitted", "checked"):
        text = text.replace(f"{root}/{sub}/", "")
    return text.replace(root, "(grader's temporary folder)")


def crash_site(log_text: str) -> str | None:
    """'model.py:61 SyntaxError: invalid syntax' from the last traceback in a log, if any, taking
    the innermost frame in the student's files (not the standard library's)."""
    lines = log_text.splitlines()
    exception = None
    for line in reversed(lines):
        match = EXCEPTION.match(line.strip())
        if match:
            exception = match["name"] + (f": {match['detail'].strip()}" if match["detail"] else "")
            break
    if exception is None:
        return None
    frames = [(m["path"], m["line"]) for m in FRAME.finditer(log_text)]
    own = [(p, n) for p, n in frames if "site-packages" not in p and "/lib/python" not in p and not p.startswith("<")]
    where = own[-1] if own else (frames[-1] if frames else None)
    if where is None:
        return exception[:160]
    return f"{student_path(where[0])}:{where[1]} {exception}"[:CAUSE_CHARS]


def root_cause(report: Report, files: ReportFiles) -> str | None:
    """One line naming why the submission is below full marks, or None when it is not."""
    if report.status == "rejected" or (report.status == "error" and not report.runs):
        return report.message or None
    if report.status == "graded" and report.score >= report.max_score:
        return None
    # A run skipped because its input failed shares that failure: only the first is a cause.
    failed = [run for run in report.runs if run.failed]
    if failed:
        causes = []
        for run in failed:
            try:  # the report's copy (in its folder: read like any workspace file, safe_fs)
                text = files.tail(run.log) if run.log else run.stopped
            except OSError:
                text = run.stopped
            causes.append(crash_site(text) or f"{run.outcome}" + (f": {run.stopped}" if run.stopped else ""))
        if len(set(causes)) == 1:
            skipped = [r for r in report.runs if r.outcome == "skipped"]
            if len(failed) + len(skipped) == len(report.runs):
                scope = "every experiment failed"
            else:
                scope = f"{', '.join(r.name for r in failed)} failed" + (
                    f" ({', '.join(r.name for r in skipped)} skipped)" if skipped else "")
            return f"{causes[0]}, {scope}"
        return "; ".join(f"{run.name}: {cause}" for run, cause in zip(failed, causes))
    lost = [i for i in report.items if i.counted and not i.bonus and i.points < i.max_points]
    if not lost:
        return report.message or None
    worst = max(lost, key=lambda i: i.max_points - i.points)
    return f"{worst.id}: {worst.message}"[:CAUSE_CHARS]
