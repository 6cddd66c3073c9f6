"""The `grader` command line: each command parses its options (their defaults are defined here, once)
and is one call into its verb's module in grader/commands/; no logic of its own."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from grader import __version__
from grader.commands.session import Session, make_console
from grader.course import catalog
from grader.errors import GraderError

console = make_console(sys.stdout)
err_console = make_console(sys.stderr)

ASSIGNMENT = click.argument("assignment_id", metavar="ASSIGNMENT")
JOBS = click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
                    help="Submissions graded at once; each gets its share of the cores.")
BACKEND = click.option("--backend", type=click.Choice(["auto", "local", "docker"]), default=None,
                       help="Where submission code runs: docker (containers), local (a subprocess; not a security "
                            "boundary) or auto: docker when a daemon answers and the image is built (`grade` refuses "
                            "otherwise; other commands fall back to local with a notice) "
                            "[default: $GRADER_BACKEND or auto].")
DATASET = click.option("--dataset", default=None,
                       help="Dataset choice of the assignment (default: the assignment's own).")


def _session(ctx: click.Context) -> Session:
    return ctx.obj


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="grader")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Course root holding assignments/, rubrics/, solutions/, skeleton/ "
                   f"(default: ${catalog.ROOT_ENV} or this repository).")
@click.pass_context
def cli(ctx: click.Context, root: Path | None) -> None:
    """Grade machine-learning assignments: run submissions in a sandbox, parse their logs, apply the rubric."""
    if ctx.invoked_subcommand is None:  # `grader` alone: the help, on stdout, and success
        click.echo(ctx.get_help())
        ctx.exit(0)
    ctx.obj = Session(root.resolve() if root else catalog.default_root(), console, err_console)
    os.environ[catalog.ROOT_ENV] = str(ctx.obj.root)


@cli.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """List the assignments in the course root."""
    from grader.commands import listing

    listing.run(_session(ctx))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--assignment", "assignment_id", default=None,
              help="Assignment ID (default: the only one, or the one whose editable files the submissions hold).")
@BACKEND
@DATASET
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grader-out"), show_default=True,
              help="Folder for reports and the gradebook.")
@click.option("--student-id", default=None, help="Student ID when a single path's name does not carry it.")
@JOBS
@click.option("--force", is_flag=True, help="Re-grade submissions whose cached report is still valid.")
@click.option("--retry-failed", is_flag=True,
              help="Re-grade only the submissions whose cached report is timeout, error or crashed.")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Grade on a Dask cluster: tls://HOST:PORT, tcp://127.0.0.1:PORT, "
                   "or local:N to start N workers here.")
@click.option("--certs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Certificates folder for tls:// (from `grader cluster certs`) [default: $GRADER_CLUSTER_CERTS].")
@click.option("--insecure", is_flag=True, help="Allow plain tcp:// to another machine (unencrypted, unauthenticated).")
@click.option("--lms", type=click.Choice(["canvas", "moodle"]), default=None,
              help="Read names as the LMS's bulk download gives them: Canvas lastfirst[_LATE]_USERID_SUBMISSIONID_NAME "
                   "files (the student ID from NAME), Moodle 'Full Name_ID_assignsubmission_file_' folders.")
@click.option("--id-pattern", default=None, metavar="REGEX",
              help="Regular expression the submission's file name must match, with named groups student_id "
                   "(required), name and late, e.g. '(?P<student_id>\\d+)-(?P<name>\\w+)\\.zip'.")
@click.option("--extensions", "extensions_csv", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None,
              help="CSV of per-student extensions for the rubric's late policy: student_id and due (date) or days.")
@click.option("--roster", "roster_csv", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The LMS's roster: a Canvas gradebook export or a Moodle grading worksheet (or participants "
                   "export). Maps the LMS's IDs in the download's names to student IDs, so uploads may be named "
                   "anything; students with no submission are 'missing' rows. Implies --lms of its kind.")
@click.option("--due", default=None, metavar="DATETIME",
              help="Due date for this run, replacing the rubric's late.due (its penalty stays), with a time zone, "
                   "e.g. 2026-11-20T23:59+01:00.")
@click.pass_context
def grade(ctx, paths, assignment_id, backend, dataset, out, student_id, jobs, force, retry_failed, cluster, certs,
          insecure, lms, id_pattern, extensions_csv, roster_csv, due) -> None:
    """Grade submissions: zips, folders, single files, or folders of them.

    Writes OUT/<submission>/report.json, report.html and Gradescope's results.json, and
    OUT/grades.csv and OUT/index.html. Unchanged submissions already graded in OUT are not re-run
    (Ctrl-C, SIGTERM or SIGHUP, then the same command, resumes); --retry-failed grades the failed
    ones again. Of two submissions of one student, the newest wins. With --cluster each submission
    is a task on a Dask cluster; the reports and the cache are the same as a local run's.
    Exit code 0: all graded; 1: some ended in timeout, error or crashed; 2: bad usage or a rejected
    submission; 3: the cluster's scheduler was lost; 130/143/129: stopped by SIGINT/SIGTERM/SIGHUP."""
    from grader.commands import grade as verb

    ctx.exit(verb.run(_session(ctx), paths, assignment_id, backend, dataset, out, student_id, jobs, force, retry_failed,
                      cluster, certs, insecure, lms, id_pattern, extensions_csv, roster_csv, due))


@cli.command("export")
@click.argument("graded", type=click.Path(file_okay=False, exists=True, path_type=Path), metavar="GRADED_OUT")
@click.option("--lms", type=click.Choice(["canvas", "moodle", "generic"]), default="generic", show_default=True,
              help="canvas: a CSV for Canvas's gradebook import; moodle: Moodle's grading worksheet (Grade and "
                   "Feedback comments); generic: student_id, name, score, ... "
                   "Feedback files are named for this LMS's bulk upload.")
@click.option("-o", "--out", "target", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV to write.")
@click.option("--assignment-name", default=None, help="Canvas: the assignment's name (default: the assignment's ID).")
@click.option("--canvas-assignment-id", default=None,
              help="Canvas: the assignment's numeric ID, so the import updates it ('Name (id)') "
                   "instead of adding a column.")
@click.option("--roster", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The LMS's roster (Canvas gradebook export, Moodle grading worksheet or participants export): "
                   "every student gets a row (no submission: missing, 0) with the LMS's own IDs and names.")
@click.option("--feedback", "feedback_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the feedback files (default: next to the CSV, FILE_feedback/, and FILE_feedback.zip).")
@click.option("--published", is_flag=True, help="Grades are published: feedback shows after_published items too.")
@click.pass_context
def export_cmd(ctx, graded, lms, target, assignment_name, canvas_assignment_id, roster, feedback_dir,
               published) -> None:
    """Write GRADED_OUT's grades (late penalty applied) as an LMS gradebook CSV, and one feedback
    file per student, named for the LMS's bulk upload; hidden items never reach feedback."""
    from grader.commands import export as verb

    verb.run(_session(ctx), graded, lms, target, assignment_name, canvas_assignment_id, roster, feedback_dir, published)


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--assignment", "assignment_id", default=None,
              help="Assignment ID (default: a graded folder's, the only one, or the one whose editable files "
                   "the submissions hold).")
@click.option("--against", multiple=True, type=click.Path(path_type=Path),
              help="Earlier terms' submissions (folder or zip; repeatable), compared with this term's, "
                   "not among themselves.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Pairs whose larger share of matched code reaches this are listed in the HTML report.")
@click.option("--top", type=click.IntRange(1, 100000), default=200, show_default=True,
              help="Most pairs shown side by side in the HTML (the CSV has every pair).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grader-out"), show_default=True,
              help="Folder for similarity.html and similarity.csv (a graded folder's index page is refreshed).")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Worker processes for fingerprinting and comparing.")
@click.pass_context
def similarity(ctx, sources, assignment_id, against, threshold, top, out, jobs) -> None:
    """Compare students' editable files pairwise for copied code (never changes a grade).

    SOURCES are zips, folders of submissions, or a graded --out folder. The skeleton's code never
    counts. Writes OUT/similarity.html (pairs at or above the threshold, ranked, side by side
    with the matches marked) and OUT/similarity.csv (every pair).
    Exit code 0: done; 1: some submissions could not be read (listed); 2: bad usage."""
    from grader.commands import similarity as verb

    ctx.exit(verb.run(_session(ctx), sources, assignment_id, against, threshold, top, out, jobs))


@cli.command()
@ASSIGNMENT
@click.option("-o", "--out", "target", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"),
              show_default=True)
@click.pass_context
def gradescope(ctx, assignment_id, target) -> None:
    """Build a Gradescope autograder bundle (setup.sh, run_autograder) that runs this rubric there."""
    from grader.commands import gradescope as verb

    verb.run(_session(ctx), assignment_id, target)


@cli.command()
@ASSIGNMENT
@click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Your assignment folder, after running its experiments.")
@DATASET
@click.option("--student-id", default=None, help="Your student ID: logs made with another seed are flagged.")
@click.pass_context
def check(ctx, assignment_id, folder, dataset, student_id) -> None:
    """Your likely score, from the logs in your folder, with the same rubric code the TA uses."""
    from grader.commands import check as verb

    verb.run(_session(ctx), assignment_id, folder, dataset, student_id)


@cli.command("package")
@ASSIGNMENT
@click.option("--student-id", required=True, help="Your student ID (digits).")
@click.option("--name", required=True, help="Your name as it should appear in the file name.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder to write studentID_name.zip into.")
@click.pass_context
def package_cmd(ctx, assignment_id, student_id, name, folder, out) -> None:
    """Build studentID_name.zip for submission (no data, caches or checkpoints)."""
    from grader.commands import package as verb

    verb.run(_session(ctx), assignment_id, student_id, name, folder, out)


@cli.command()
@click.argument("assignment_ids", nargs=-1, metavar="[ASSIGNMENT]...")
@click.option("--check", "check_only", is_flag=True,
              help="Fail if the checked-in skeleton differs from what the solutions generate.")
@click.pass_context
def build(ctx, assignment_ids, check_only) -> None:
    """Generate skeleton/<id> from solutions/<id> (marked solution code becomes TODO stubs)."""
    from grader.commands import build as verb

    verb.run(_session(ctx), assignment_ids, check_only)


@cli.command()
@click.argument("assignment_ids", nargs=-1, metavar="[ASSIGNMENT]...")
@BACKEND
@DATASET
@click.option("--skip-baselines", is_flag=True, help="Grade only the reference and the skeleton.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Keep the reports here.")
@JOBS
@click.option("--tests-only", is_flag=True, help="Only the hidden tests (seconds, no training): a matrix of cases x "
                                                 "reference, skeleton and baselines.")
@click.pass_context
def validate(ctx, assignment_ids, backend, dataset, skip_baselines, out, jobs, tests_only) -> None:
    """CI check: reference -> full marks, skeleton -> zero, baselines -> their declared points, skeleton in sync."""
    from grader.commands import validate as verb

    ctx.exit(verb.run(_session(ctx), assignment_ids, backend, dataset, skip_baselines, out, jobs, tests_only))


@cli.command("new")
@click.argument("assignment_id", metavar="ID")
@click.option("--notebook", is_flag=True,
              help="A notebook assignment (the student edits ID.ipynb) instead of a .py file.")
@click.option("--seeds", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Seeds the reference and the baseline are graded with for the calibration record.")
@click.option("--like", "like", metavar="ASSIGNMENT", default=None,
              help="Copy this assignment of the course under the new id (solution, assignment folder, rubric, "
                   "its calibration record to re-measure) and build the skeleton, instead of the ridge scaffold.")
@click.pass_context
def new_cmd(ctx, assignment_id, notebook, seeds, like) -> None:
    """Scaffold a complete, working assignment in the course root: solution, skeleton, rubric with declared
    hidden tests, a known-wrong baseline and a measured calibration record; `grader validate ID` passes on it.
    With --like ASSIGNMENT, a copy of that assignment under the new id instead."""
    from grader.commands import new as verb

    verb.run(_session(ctx), assignment_id, notebook, seeds, like)


@cli.command()
@ASSIGNMENT
@click.option("-o", "--out", "dest", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to create.")
@click.pass_context
def handout(ctx, assignment_id, dest) -> None:
    """Make the student handout: skeleton code, run.sh, README, rubric; no solutions, no hidden tests."""
    from grader.commands import handout as verb

    verb.run(_session(ctx), assignment_id, dest)


@cli.command()
@ASSIGNMENT
@click.option("--seeds", type=click.IntRange(1, 500), default=5, show_default=True,
              help="How many student seeds to try.")
@BACKEND
@DATASET
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grader-out"), show_default=True)
@click.option("--skip-baselines", is_flag=True, help="Only the reference.")
@JOBS
@click.option("--write", "write_to_course", is_flag=True,
              help="Merge the runs into the assignment's calibration.yaml (a run of the same example and seed is "
                   "replaced; the notes and the other runs stay) instead of writing OUT/calibration_<id>.yaml.")
@click.option("--only", default=None, metavar="NAME", help="Only this example: reference or a baseline's name.")
@click.pass_context
def calibrate(ctx, assignment_id, seeds, backend, dataset, out, skip_baselines, jobs, write_to_course, only) -> None:
    """Run the reference and the baselines over N seeds; print metric distributions and tier pass rates."""
    from grader.commands import calibrate as verb

    verb.run(_session(ctx), assignment_id, seeds, backend, dataset, out, skip_baselines, jobs,
             "grader " + shlex.join(sys.argv[1:]), write_to_course, only)


@cli.command()
@click.argument("assignment_id", metavar="[ASSIGNMENT]", default="colored_mnist")
@BACKEND
@DATASET
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grader-out/demo"),
              show_default=True)
@click.pass_context
def demo(ctx, assignment_id, backend, dataset, out) -> None:
    """Grade the bundled example submissions (correct, untouched skeleton, wrong) and print the gradebook."""
    from grader.commands import demo as verb

    ctx.exit(verb.run(_session(ctx), assignment_id, backend, dataset, out))


@cli.group()
def image() -> None:
    """The Docker image submissions run in."""


@image.command("build")
def image_build() -> None:
    """Build the grading image (base via debootstrap when absent); its tag hashes its contents."""
    from grader.commands import image as verb

    verb.build(_session(click.get_current_context()))


@image.command("tag")
def image_tag_cmd() -> None:
    """Print the tag the current sources give the grading image."""
    from grader.commands import image as verb

    verb.tag(_session(click.get_current_context()))


@cli.command()
@click.argument("scheduler", metavar="ADDRESS")
@BACKEND
@click.option("--certs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Certificates folder for tls:// (worker.pem from `grader cluster certs`) "
                   "[default: $GRADER_CLUSTER_CERTS].")
@click.option("--insecure", is_flag=True, help="Allow plain tcp:// to another machine (unencrypted, unauthenticated).")
@click.option("--nworkers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker processes on this machine, each grading one submission at a time.")
@click.option("--check", "check_only", is_flag=True,
              help="Only check this machine (course, image, data); start nothing.")
@click.option("--scratch", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for each submission's workspace and report while it is graded [default: $TMPDIR or "
                   "/tmp]. A tmpfs (/dev/shm) makes the engine's file work far cheaper than a slow disk does, "
                   "and holds the workspaces in memory.")
@click.pass_context
def worker(ctx, scheduler, backend, certs, insecure, nworkers, check_only, scratch) -> None:
    """Prepare this machine to grade for a cluster and start a Dask worker on it.

    Checks the course (its fingerprint must equal the client's), the grading image (docker backend)
    and the data folder, then runs `dask worker ADDRESS --preload grader.batch.dask_worker` with one thread per
    worker process. Submissions run with the backend the client asks for."""
    from grader.commands import worker as verb

    verb.run(_session(ctx), scheduler, backend, certs, insecure, nworkers, check_only, scratch)


@cli.group()
def cluster() -> None:
    """Grading on a Dask cluster: certificates for tls://."""


@cluster.command("certs")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True,
              help="Validity of the certificates.")
def cluster_certs(folder, days) -> None:
    """Make a course's certificate authority and scheduler, worker and client certificates in FOLDER.

    Start the scheduler with scheduler.pem, the workers with worker.pem, and grade with
    `--certs FOLDER` (client.pem). Only holders of a certificate from this CA can connect.
    Keep ca-key.pem off the cluster."""
    from grader.commands import worker as verb

    verb.certs(_session(click.get_current_context()), folder, days)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort as exc:
        err_console.print("interrupted")
        sys.exit(getattr(exc.__cause__, "exit_code", 130))
    except GraderError as exc:
        from grader.inert import plain

        err_console.print(f"error: {plain(str(exc))}", markup=False, soft_wrap=True)  # a path may carry escape codes
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        err_console.print("interrupted")
        sys.exit(getattr(exc, "exit_code", 130))
    except Exception as exc:  # a bug or an unforeseen file problem: one line, never a traceback
        if os.environ.get("GRADER_DEBUG"):
            raise
        from grader.inert import plain

        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        err_console.print(f"error: {plain(where + reason)} (GRADER_DEBUG=1 shows the traceback)",
                          markup=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
