"""`grader grade`: grade submissions (zips, folders, files) on this machine or a Dask cluster and
write reports, Gradescope results and the gradebook. Discovery, the resume cache and the
executors live in grader.batch.executors (local) and grader.batch.dask_client (Dask)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.console import Console

from grader.batch.cache import FAILED
from grader.batch.discovery import expand_sources, latest_per_student
from grader.batch.executors import Executor, LocalExecutor
from grader.batch.run import exit_code, finish_reports, grade_batch
from grader.commands.session import Session, cluster_backend
from grader.course.catalog import Assignment
from grader.course.spec import LatePolicy
from grader.errors import GraderError
from grader.reports.export import missing_report
from grader.reports.report import Report, print_gradebook, print_summary, write_gradebook, write_report
from grader.sandbox import Sandbox
from grader.steps.lms import Identity, download_times, file_time
from grader.steps.lms import latest_per_student as latest_per_identity
from grader.steps.naming import report_folder
from grader.steps.roster import Roster
from grader.verdict.late import Extension


def missing_reports(roster: Roster, identities: list[Identity], assignment: Assignment, dataset: str | None,
                    out: Path) -> list[Report]:
    """A `missing` report (0 points, "no submission", never run) for each roster student none of
    the identities is for, written to OUT/missing_<student ID>/ so the gradebook and the export list them."""
    dataset = assignment.dataset(dataset)
    missing = roster.without({i.student_id for i in identities}, {i.origin.lms_user_id for i in identities})
    reports = [missing_report(s, assignment.id, assignment.rubric.max_score(dataset), dataset) for s in missing]
    for report in reports:
        write_report(report, report_folder(out, report.stem))
    return reports


def mark_download_times(times: dict[Path, str | None], late: LatePolicy | None, console: Console) -> set[Path]:
    """The submissions whose file times are a download's (all within minutes, after the due date):
    warned about, and not charged by the late policy. Empty when the times are spread out or harmless."""
    window = download_times(list(times.values()))
    if window is None or late is None or window[0] <= late.due + dt.timedelta(minutes=late.grace_minutes):
        return set()
    first, last = (t.isoformat(timespec="minutes") for t in window)
    console.print(f"[yellow]warning:[/] the file times of all {len(times)} submissions fall between {first} "
                  f"and {last}, "
                  f"after the due date {late.due.isoformat(timespec='minutes')}: "
                  "they are the download's (or a copy's), "
                  "not when each student submitted, so the late policy does not charge by them in this run. Give the "
                  "LMS's times (--roster: Moodle's grading worksheet), or keep the files' times when copying.",
                  highlight=False, soft_wrap=True)
    return set(times)


def grade_all(sources: list[Path], assignment: Assignment, sandbox: Sandbox | None, out: Path, *, dataset: str | None,
              student_id: str | None, console: Console, detail: bool = True, jobs: int = 1, force: bool = False,
              retry_failed: bool = False, executor: Executor | None = None, identities: list[Identity] | None = None,
              extensions: dict[str, Extension] | None = None, roster: Roster | None = None,
              late: LatePolicy | None = None) -> list[Report]:
    """Grade a batch (on `executor`, else `jobs` at a time with `sandbox`), then write the gradebook.
    `identities` (grader.steps.lms.discover) replace `sources` for LMS downloads and --id-pattern;
    a `roster` adds a `missing` row for each of its students with no submission. `late` replaces the
    rubric's late policy (--due)."""
    late = late or assignment.rubric.late
    if identities is not None:
        identities, duplicate_notes = latest_per_identity(identities)
        identity_of = {i.source: i for i in identities}
        sources = list(identity_of)
        file_times = {i.source: i.origin.submitted_at for i in identities if i.origin.time_from == "file"}
    else:
        sources, duplicate_notes = latest_per_student(sources)
        identity_of = None
        file_times = {s: file_time(s) for s in sources}
    downloaded = mark_download_times(file_times, late, console)
    executor = executor or LocalExecutor(sandbox, jobs)
    console.print(f"grading {len(sources)} submission{'s' if len(sources) != 1 else ''} of {assignment.id}: "
                  f"{executor.describe()}", highlight=False)

    def show(source: Path, report: Report) -> None:
        if detail:
            print_summary(report, console)

    result = grade_batch(sources, assignment, executor, out, dataset=dataset, student_id=student_id, console=console,
                         force=force, retry_failed=retry_failed, on_report=show, identities=identity_of)
    for source, report in zip(result.sources, result.reports):
        if identity_of and source in identity_of:  # what the LMS says now (a cached report keeps an older roster's)
            report.origin = identity_of[source].origin.model_copy()
        if source in downloaded and report.origin and report.origin.time_from == "file":
            report.origin.time_from = "download"
    finish_reports(result.sources, result.reports, out, duplicate_notes, assignment, extensions, late)
    missing = missing_reports(roster, identities or [], assignment, dataset, out) if roster else []
    if missing:
        console.print(f"{len(missing)} student{'s' if len(missing) != 1 else ''} of the roster submitted nothing: "
                      "missing (0 points) in the gradebook", highlight=False)
    write_gradebook(result.reports + missing, out)
    if len(result.reports) + len(missing) > 1:
        print_gradebook(result.reports + missing, console)
    failed = sum(r.status in FAILED for r in result.reports)
    console.print(f"{result.graded} graded now, {result.cached} from earlier runs, in {result.seconds:.1f} s"
                  + (f"; {failed} ended in timeout, error or crashed (--retry-failed grades only those again)"
                     if failed else ""))
    console.print(f"reports in {out} (grades.csv, index.html, per submission report.json, report.html, results.json, "
                  "student.html)")
    return result.reports + missing


def cluster_executor(address: str, backend: str, certs: Path | None, insecure: bool, console: Console,
                     err_console: Console):
    """Connect to (or start, for local:N) a Dask cluster whose workers all grade this course."""
    from grader.batch.dask_client import DaskExecutor, check_workers, connect
    from grader.batch.dask_worker import course_fingerprint
    from grader.course.catalog import default_root

    client, cluster = connect(address, certs=certs, insecure=insecure,
                              warn=lambda text: err_console.print(text, style="yellow", markup=False))
    try:
        fingerprint = course_fingerprint(default_root(), backend)
        check_workers(client, fingerprint, backend)
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    console.print(f"cluster {address}: course fingerprint {fingerprint}; dashboard {client.dashboard_link}",
                  highlight=False)
    return DaskExecutor(client, backend, fingerprint, address, cluster)


def run(session: Session, paths: tuple[Path, ...], assignment_id: str | None, backend: str | None,
        dataset: str | None, out: Path, student_id: str | None, jobs: int, force: bool, retry_failed: bool,
        cluster: str | None, certs: Path | None, insecure: bool, lms: str | None, id_pattern: str | None,
        extensions_csv: Path | None, roster_csv: Path | None = None, due: str | None = None) -> int:
    """`grader grade`: find the submissions (an LMS's names and roster, a pattern, or studentID_name), the
    assignment they are for, and the executor, then grade; the exit code says how it went."""
    from grader.steps import lms as lms_names
    from grader.steps.roster import read_roster
    from grader.verdict.late import load_extensions, parse_time

    if force and retry_failed:
        raise GraderError("--force re-grades everything; --retry-failed only the failed ones: pick one")
    if cluster:
        from grader.batch.dask_client import check_address

        check_address(cluster, insecure)  # before any work: a refused address is bad usage
    for path in paths if not assignment_id else ():  # before guessing the assignment from what they hold
        if not path.exists():
            raise GraderError("no such file or folder", path)
    due_at = parse_time(due, "--due") if due else None
    pattern = lms_names.compile_pattern(id_pattern)
    if roster_csv and pattern is None:
        lms = lms or read_roster(roster_csv).lms  # a roster says which LMS the download is from
    identities = lms_names.discover(list(paths), lms, pattern) if (lms or pattern) else None
    found = [i.source for i in identities] if identities is not None else list(paths)
    assignment = session.pick_assignment(assignment_id, found)
    late = assignment.rubric.late
    if due_at is not None:
        if late is None:
            raise GraderError(f"--due needs a late policy (what lateness costs): rubric {assignment.rubric_path} "
                              "has no late: block")
        late = late.model_copy(update={"due": due_at})
    roster = None
    if roster_csv:
        # Times the LMS wrote without a zone (Moodle's) are in the due date's zone.
        roster = read_roster(roster_csv, tz=late.due.tzinfo if late else None)
        if lms and roster.lms != lms:
            raise GraderError(f"roster is a {roster.kind}, not {lms}'s", roster_csv)
        for problem in roster.problems:
            session.err.print(f"warning: roster: {problem}", markup=False)
        identities = lms_names.discover(list(paths), lms, pattern, roster)
    sources = found if identities is not None else expand_sources(list(paths), assignment)
    extensions = load_extensions(extensions_csv) if extensions_csv else None
    if extensions and late is None:
        session.err.print(f"warning: rubric {assignment.rubric_path} has no late policy; --extensions changes nothing")
    common = dict(dataset=dataset, student_id=student_id, console=session.console, force=force,
                  retry_failed=retry_failed, identities=identities, extensions=extensions, roster=roster, late=late)
    if cluster:
        executor = cluster_executor(cluster, cluster_backend(backend), certs, insecure, session.console, session.err)
        reports = grade_all(sources, assignment, None, out, executor=executor, **common)
    else:
        reports = grade_all(sources, assignment, session.sandbox(backend, local_fallback=False), out, jobs=jobs,
                            **common)
    return exit_code(reports)
