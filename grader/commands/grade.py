"""`grader grade`: grade submissions (zips, folders, files) on this machine or a Dask cluster and
write reports, Gradescope results and the gradebook. Discovery, the resume cache and the
executors live in grader.batch.executors (local) and grader.batch.dask_client (Dask)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from grader.batch.cache import FAILED
from grader.batch.discovery import expand_sources, guess_assignment, latest_per_student
from grader.batch.executors import Executor, LocalExecutor
from grader.batch.run import exit_code, finish_reports, grade_batch
from grader.course.catalog import Assignment
from grader.reports.report import Report, print_gradebook, print_summary, write_gradebook
from grader.sandbox import Sandbox
from grader.steps.lms import Identity
from grader.steps.lms import latest_per_student as latest_per_identity
from grader.verdict.late import Extension

__all__ = ["grade_all", "exit_code", "expand_sources", "guess_assignment", "cluster_executor"]


def grade_all(sources: list[Path], assignment: Assignment, sandbox: Sandbox | None, out: Path, *, dataset: str | None,
              student_id: str | None, console: Console, detail: bool = True, jobs: int = 1, force: bool = False,
              retry_failed: bool = False, executor: Executor | None = None, identities: list[Identity] | None = None,
              extensions: dict[str, Extension] | None = None) -> list[Report]:
    """Grade a batch (on `executor`, else `jobs` at a time with `sandbox`), then write the gradebook.
    `identities` (grader.steps.lms.discover) replace `sources` for LMS downloads and --id-pattern."""
    if identities is not None:
        identities, duplicate_notes = latest_per_identity(identities)
        identity_of = {i.source: i for i in identities}
        sources = list(identity_of)
    else:
        sources, duplicate_notes = latest_per_student(sources)
        identity_of = None
    executor = executor or LocalExecutor(sandbox, jobs)
    console.print(f"grading {len(sources)} submission{'s' if len(sources) != 1 else ''} of {assignment.id}: "
                  f"{executor.describe()}", highlight=False)

    def show(source: Path, report: Report) -> None:
        if detail:
            print_summary(report, console)

    result = grade_batch(sources, assignment, executor, out, dataset=dataset, student_id=student_id, console=console,
                         force=force, retry_failed=retry_failed, on_report=show, identities=identity_of)
    finish_reports(result.sources, result.reports, out, duplicate_notes, assignment, extensions)
    write_gradebook(result.reports, out)
    if len(result.reports) > 1:
        print_gradebook(result.reports, console)
    failed = sum(r.status in FAILED for r in result.reports)
    console.print(f"{result.graded} graded now, {result.cached} from earlier runs, in {result.seconds:.1f} s"
                  + (f"; {failed} ended in timeout, error or crashed (--retry-failed grades only those again)"
                     if failed else ""))
    console.print(f"reports in {out} (grades.csv, index.html, per submission report.json, report.html, results.json, "
                  "student.html)")
    return result.reports


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
