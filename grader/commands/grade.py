"""`grader grade`: grade submissions (zips, folders, files) on this machine or a Dask cluster and
write reports, Gradescope results and the gradebook. Discovery, the resume cache and the
executors live in grader.batch.executors (local) and grader.batch.dask_client (Dask)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from grader.batch.cache import FAILED
from grader.batch.discovery import expand_sources, latest_per_student
from grader.batch.executors import Executor, LocalExecutor
from grader.batch.run import exit_code, finish_reports, grade_batch
from grader.commands.session import Session, cluster_backend
from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.reports.report import Report, print_gradebook, print_summary, write_gradebook
from grader.sandbox import Sandbox
from grader.steps.lms import Identity
from grader.steps.lms import latest_per_student as latest_per_identity
from grader.verdict.late import Extension


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


def run(session: Session, paths: tuple[Path, ...], assignment_id: str | None, backend: str | None,
        dataset: str | None, out: Path, student_id: str | None, jobs: int, force: bool, retry_failed: bool,
        cluster: str | None, certs: Path | None, insecure: bool, lms: str | None, id_pattern: str | None,
        extensions_csv: Path | None) -> int:
    """`grader grade`: find the submissions (an LMS's names, a pattern, or studentID_name), the
    assignment they are for, and the executor, then grade; the exit code says how it went."""
    from grader.steps import lms as lms_names
    from grader.verdict.late import load_extensions

    if force and retry_failed:
        raise GraderError("--force re-grades everything; --retry-failed only the failed ones: pick one")
    if cluster:
        from grader.batch.dask_client import check_address

        check_address(cluster, insecure)  # before any work: a refused address is bad usage
    for path in paths if not assignment_id else ():  # before guessing the assignment from what they hold
        if not path.exists():
            raise GraderError("no such file or folder", path)
    pattern = lms_names.compile_pattern(id_pattern)
    identities = lms_names.discover(list(paths), lms, pattern) if (lms or pattern) else None
    found = [i.source for i in identities] if identities is not None else list(paths)
    assignment = session.pick_assignment(assignment_id, found)
    sources = found if identities is not None else expand_sources(list(paths), assignment)
    extensions = load_extensions(extensions_csv) if extensions_csv else None
    if extensions and assignment.rubric.late is None:
        session.err.print(f"warning: rubric {assignment.rubric_path} has no late policy; --extensions changes nothing")
    common = dict(dataset=dataset, student_id=student_id, console=session.console, force=force,
                  retry_failed=retry_failed, identities=identities, extensions=extensions)
    if cluster:
        executor = cluster_executor(cluster, cluster_backend(backend), certs, insecure, session.console, session.err)
        reports = grade_all(sources, assignment, None, out, executor=executor, **common)
    else:
        reports = grade_all(sources, assignment, session.sandbox(backend, local_fallback=False), out, jobs=jobs, **common)
    return exit_code(reports)
