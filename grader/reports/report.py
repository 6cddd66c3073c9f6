"""Step 6, report: report.json and an HTML page per submission, a terminal summary,
and the class gradebook (grades.csv plus an index page)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field
from pydantic_core import PydanticSerializationError
from rich.console import Console
from rich.table import Table

from grader import __version__
from grader.inert import clean_data, clean_text, for_csv, for_html, for_terminal
from grader.reports import plots
from grader.reports.analytics import SIMILARITY_CSV, SIMILARITY_HTML, class_analytics, read_similarity
from grader.steps.diagnose import CAUSE_CHARS
from grader.steps.lms import SubmissionOrigin
from grader.steps.naming import report_folder_name
from grader.verdict.late import LateOutcome
from grader.verdict.score import ItemResult

Status = Literal["graded", "error", "timeout", "rejected", "crashed", "missing"]
# graded: every step ran (whatever it scored); timeout: a step was stopped by a time limit;
# error: the sandbox could not run a step (a container that did not start, a workspace over
# its limits) or the submission could not be set up; rejected: an unsafe or malformed
# submission, never run; crashed: the grader itself failed on this submission (a bug to
# report), or killed its worker twice; missing: a roster's student with no submission (0, never run).


NOT_NEEDED = "not needed"  # a run's outcome when it was not started as nothing after it could start (pipeline)


class RunRecord(BaseModel):
    name: str
    command: list[str]
    exit_code: int | None
    outcome: str  # "ok", "skipped" (an input failed, or the time ran out), NOT_NEEDED, else how it failed
    seconds: float
    output_truncated: bool
    log: str
    stopped: str = ""  # the log's last line when the run did not finish: where and why it stopped
    artifacts: list[str] = Field(default_factory=list)
    attempts: int = 1  # 2 when the wall-clock backstop fired and the step was run again
    limit: str | None = None  # the limit that stopped it: cpu, wall (or None)
    memory_peak_mb: float | None = None  # peak resident memory (MiB): process tree (local) or container cgroup

    @property
    def failed(self) -> bool:
        """It ran and failed, or was not started as certain to fail: neither ok, skipped nor not needed."""
        return self.outcome not in ("ok", "skipped", NOT_NEEDED)


class Report(BaseModel):
    grader_version: str = __version__
    source: str
    stem: str
    student_id: str | None = None
    name: str | None = None
    assignment: str
    dataset: str | None = None
    seed: int | None = None
    backend: str | None = None
    status: Status
    message: str = ""
    score: float = 0.0
    max_score: float = 0.0
    bonus_points: float = 0.0
    items: list[ItemResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    runs: list[RunRecord] = Field(default_factory=list)
    curves: dict[str, dict[str, list[float]]] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    cache_key: str | None = None  # hash of submission, assignment and grader: a re-run reuses a match
    origin: SubmissionOrigin | None = None  # file name and time, and what the LMS said about it
    late: LateOutcome | None = None  # the late policy's verdict; score is after its penalty
    cause: str | None = None  # below full marks: why, in one line (grader.steps.diagnose)

    def scores_only(self) -> dict:
        """What must not change when the same submission is graded twice."""
        return {"status": self.status, "score": self.score, "items": {i.id: (i.points, i.value) for i in self.items}}


def _inert(value):
    """Every {{ value }} of every page: text a student chose passes through inert.for_html (no raw
    ESC or control bytes); markup the grader built itself (the plots' SVG) is left as it is."""
    return for_html(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def report_href(stem: str) -> str:
    """The index's link to a submission's report page: the folder the report was written to
    (grader/steps/naming.py), or nothing for a name that got no folder."""
    folder = report_folder_name(stem)
    return f"./{quote(folder)}/report.html" if folder else ""


def item_title(item) -> str:
    """An item's title as every page and results.json show it: " (bonus)" added once, not again
    when the rubric's title already says so ("V-REx unit tests (bonus)")."""
    title = item.title
    return f"{title} (bonus)" if getattr(item, "bonus", False) and "bonus" not in title.lower() else title


def status_warning(report: Report) -> str:
    """Why a `graded` status must not read as all is well, or "": every experiment failed (the
    items were scored on nothing), or nothing scored at all."""
    if report.status != "graded":
        return ""
    if report.runs and all(run.outcome not in ("ok", NOT_NEEDED) for run in report.runs):
        return "every experiment failed"
    if report.max_score > 0 and report.score <= 0:
        return "no points scored"
    return ""


def status_text(report: Report) -> str:
    """The status as a word or two: `graded`, or `graded, but every experiment failed`."""
    warning = status_warning(report)
    return f"{report.status}, but {warning}" if warning else report.status


def status_class(report: Report) -> str:
    """The CSS class of a status on a page: a graded report that warns gets the warning colour."""
    return "graded-warn" if status_warning(report) else report.status


# Every HTML page (report, student, index, similarity) renders through this one environment.
PAGES = Environment(loader=PackageLoader("grader.reports", "templates"), autoescape=select_autoescape(["html", "j2"]),
                    finalize=_inert)
PAGES.globals.update(metric_plot=plots.metric_plot, curve_plot=plots.curve_plot,
                     distribution_plot=plots.distribution_plot)
PAGES.filters.update(report_href=report_href, item_title=item_title, status_text=status_text, status_class=status_class)

STATUS_STYLE = {"graded": "green", "error": "red", "timeout": "yellow", "rejected": "magenta",
                "crashed": "red", "missing": "dim"}


def status_style(report: Report) -> str:
    return "yellow" if status_warning(report) else STATUS_STYLE[report.status]

ITEM_STYLE = {"passed": "green", "partial": "yellow", "failed": "red", "error": "red", "skipped": "dim"}


def encodable(report: Report) -> Report:
    """The report with every string encodable as UTF-8 (names that were not keep visible
    escapes), so writing it cannot fail on a student's file name."""
    return report_json(report)[0]


def report_json(report: Report, indent: int | None = None) -> tuple[Report, str]:
    """(the report made encodable, its JSON). Nearly every report is encodable as it is: its JSON
    is made once, and the copy with escapes only when a string would not encode (the JSON
    serializer refuses a lone surrogate, as the file would)."""
    try:
        return report, report.model_dump_json(indent=indent)
    except PydanticSerializationError:
        cleaned = Report.model_validate(clean_data(report.model_dump()))
        return cleaned, cleaned.model_dump_json(indent=indent)


def write_page(path: Path, text: str) -> Path:
    """The one way a report, a page or a JSON file is written: UTF-8, any text that is not
    (a name of bytes that are not UTF-8) kept as visible escapes by clean_text, never an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(clean_text(text), encoding="utf-8")
    return path


def write_report(report: Report, folder: Path, html: bool = True) -> Path:
    report, text = report_json(report, indent=2)
    path = write_page(folder / "report.json", text)
    if html:
        write_page(folder / "report.html", PAGES.get_template("report.html.j2").render(r=report))
    return path


def load_report(path: Path) -> Report:
    return Report.model_validate(json.loads(path.read_text(encoding="utf-8")))


def print_summary(report: Report, console: Console) -> None:
    style = status_style(report)
    who = f"{report.student_id or '?'} {report.name or ''}".strip()
    head = (f"[bold]{for_terminal(report.stem)}[/] ({for_terminal(who)}, "
            f"seed {'?' if report.seed is None else report.seed}, {for_terminal(report.dataset or 'no dataset')}): ")
    head += f"[{style}]{status_text(report)}[/] {report.score:g}/{report.max_score:g}"
    if report.bonus_points:
        head += f" (bonus {report.bonus_points:g} included)"
    console.print(head)
    if report.message:
        console.print(f"  [{style}]{for_terminal(report.message)}[/]")
    if report.cause and report.cause != report.message:
        console.print(f"  cause: {for_terminal(report.cause)}", soft_wrap=True)
    if report.late and report.late.note:
        console.print(f"  [yellow]{for_terminal(report.late.note)}[/]", soft_wrap=True)
    for item in report.items:
        value = (f"{item.value:.4f}" if isinstance(item.value, float)
                 else str(item.value if item.value is not None else "-"))
        pts = (f"{item.points:g}/{item.max_points:g}" + (" bonus" if item.bonus else "")
               + ("" if item.counted else " (not counted)"))
        message = item.message if len(item.message) <= 110 else item.message[:107] + "..."
        console.print(f"  [{ITEM_STYLE[item.status]}]{item.status:7}[/] {for_terminal(item.id)}: {for_terminal(value)}"
                      f" ({for_terminal(item.threshold or '-')}) {pts} - {for_terminal(message)}", soft_wrap=True)
    for warning in report.warnings + report.flags:
        console.print(f"  [yellow]warning:[/] {for_terminal(warning)}")


def notes(report: Report) -> list[str]:
    """The gradebook's notes on one submission, root cause first: grades.csv's `flags`, the
    index page's Notes and the terminal gradebook's note."""
    cause = report.cause
    # The root cause is often one item's own flag (cut to CAUSE_CHARS): said once, first.
    found = ([cause] if cause else []) + [f for f in report.flags if not cause or cause not in (f, f[:CAUSE_CHARS])]
    if report.status != "graded" and report.message and report.message != report.cause:
        found.append(report.message)
    return found


PAGES.filters["notes"] = notes

GRADEBOOK_FIXED = ["student_id", "name", "score", "max_score", "status", "submission", "flags", "late_penalty",
                   "submitted_at"]


def write_gradebook(reports: list[Report], out: Path) -> Path:
    item_ids: list[str] = []
    for report in reports:
        for item in report.items:
            if item.id not in item_ids:
                item_ids.append(item.id)
    path = out / "grades.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(GRADEBOOK_FIXED + item_ids)
        for report in sorted(reports, key=lambda r: (r.student_id or "", r.stem)):
            points = {i.id: f"{i.points:g}" for i in report.items}
            late = [report.late.note] if report.late and report.late.note else []
            row = [report.student_id or "", report.name or "", f"{report.score:g}", f"{report.max_score:g}",
                   report.status, report.stem, " | ".join(notes(report) + late),
                   f"{report.late.penalty:g}" if report.late else "",
                   report.origin.submitted_at or "" if report.origin else ""] + [points.get(i, "") for i in item_ids]
            writer.writerow([for_csv(cell) for cell in row])  # a name like =HYPERLINK(...) stays text
    write_index(reports, out)
    return path


def write_index(reports: list[Report], out: Path) -> Path:
    """index.html: the gradebook table and the class analytics (with `grader similarity`'s
    pairs when its CSV is in the folder)."""
    reports = [encodable(r) for r in reports]  # names that are not UTF-8 keep visible escapes
    item_ids = list(dict.fromkeys(item.id for report in reports for item in report.items))
    analytics = class_analytics(reports, read_similarity(out / SIMILARITY_CSV))
    similarity_page = SIMILARITY_HTML if (out / SIMILARITY_HTML).is_file() else None
    page = PAGES.get_template("index.html.j2").render(reports=reports, item_ids=item_ids, a=analytics,
                                                     similarity_page=similarity_page)
    return write_page(out / "index.html", page)


def print_gradebook(reports: list[Report], console: Console) -> None:
    table = Table(title="Gradebook", header_style="bold")
    for col in ("student", "name", "score", "status"):
        table.add_column(col, overflow="fold")
    table.add_column("note", overflow="fold", ratio=1)  # the whole note, wrapped: it names the root cause
    for r in sorted(reports, key=lambda r: (r.student_id or "", r.stem)):
        table.add_row(for_terminal(r.student_id or "?"), for_terminal(r.name or r.stem), f"{r.score:g}/{r.max_score:g}",
                      f"[{status_style(r)}]{status_text(r)}[/]", for_terminal("; ".join(notes(r))))
    console.print(table)
