"""The worker side of cluster grading.

`grade_task` runs on a Dask worker: it refuses unless the worker holds the same course, grader
and image as the client (the course fingerprint), grades the submission's bytes with the
sandbox backend the client asked for, and returns the report folder as data.

Also a Dask preload: `dask worker ADDRESS --preload grader.batch.dask_worker` checks the course before the
worker takes any task; `grader worker` runs those checks and starts such a worker."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

from grader import __version__
from grader.course import catalog
from grader.course.secret import secret_id, secret_path
from grader.errors import GraderError
from grader.safe_fs import SKIPPED_IN_DIGESTS, tree_digest
from grader.steps.naming import is_plain_name

REPORT_FILE_CAP = 16 * 1024 * 1024  # one file of a report folder sent back to the client
REPORT_TOTAL_CAP = 64 * 1024 * 1024  # a whole report folder
COURSE_PARTS = ("assignments", "rubrics", "skeleton")
WORKERS_ENV = "GRADER_WORKERS_PER_MACHINE"  # worker processes started together on one machine


# Dask's own background work in a grading worker: its statistical profiler samples every thread
# 100 times a second, its event loop ticks 50 times a second, its system and memory monitors run 2
# and 10 times a second. A grading task waits on its sandbox (student code runs in processes or
# containers of their own), so none of that tells anything here, and on one machine it adds up:
# 8 worker processes (and their nannies) took 22% of a 2-core machine's CPU idle, 2% with these.
# `grader worker` and `--cluster local:N` start their workers with them.
QUIET_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def quiet_worker_env() -> dict[str, str]:
    """QUIET_WORKER_CONFIG as the DASK_* environment variables a `dask worker` process reads."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
            for key, value in QUIET_WORKER_CONFIG.items()}


class CourseMismatch(GraderError):
    """This worker grades a different course, grader or image than the client asked for."""


def course_fingerprint(root: Path, backend: str) -> str:
    """A hash of what decides a grade besides the submission: the course's assignments (hidden
    tests included), rubrics and skeletons, the grader's version and source, the course secret
    (by its public id: it seeds the held-out draws) and the grading image's tag when submissions
    run in Docker."""
    digest = hashlib.sha256(f"grader {__version__}\0backend {backend}\0".encode())
    for part in COURSE_PARTS:
        digest.update(f"\2{part}\0".encode())
        tree_digest(digest, root / part)
    digest.update(b"\2grader\0")
    tree_digest(digest, Path(__file__).resolve().parents[1])
    digest.update(f"\2secret {secret_id()}".encode())
    if backend == "docker":
        from grader.sandbox.image import image_tag

        digest.update(f"\2image {image_tag()}".encode())
    return digest.hexdigest()[:16]


# Per worker process: the fingerprint and the parsed assignments, kept while the files under
# them keep their listing (paths, sizes, modification times: stat only, no file read).
_FINGERPRINTS: dict[tuple[str, str], tuple[tuple, str, float]] = {}
# The listing is taken again at most this often: a worker's tasks end together (64 threads, one
# listing each of a few hundred files, about 1 ms), and a course edited on a worker mid-batch is
# refused within this much time instead of at once.
LISTING_FRESH_S = 1.0
_ASSIGNMENTS: dict[tuple[str, str, str], catalog.Assignment] = {}
_ASSIGNMENTS_LOCK = threading.Lock()
_IMAGES_PRESENT: set[str] = set()  # docker fingerprints whose grading image was found on this machine


def _fingerprinted_trees(root: Path, backend: str) -> list[Path]:
    trees = [root / part for part in COURSE_PARTS] + [Path(__file__).resolve().parents[1], secret_path()]
    if backend == "docker":  # the image tag hashes these too
        from grader.sandbox.image import PACKAGE_ROOT

        trees += [PACKAGE_ROOT / "Dockerfile", PACKAGE_ROOT / "pyproject.toml"]
    return trees


def tree_listing(root: Path, backend: str) -> tuple:
    """What the fingerprint reads, by stat alone: (path, mode, size, mtime_ns, ctime_ns, inode)
    of every file and link, (path, mode) of every folder, in path order. A file changed in place
    changes its mtime (and ctime), so the listing too. One lstat per entry, links never followed,
    __pycache__ folders not entered and folders' times left out (the hash reads neither, and a
    worker's first import of a module writes a .pyc); checked before every task, so kept cheap."""
    rows: list[tuple] = []
    for tree in _fingerprinted_trees(root, backend):
        try:
            info = os.lstat(tree)
        except FileNotFoundError:
            rows.append((str(tree), None))
            continue
        if not stat.S_ISDIR(info.st_mode):
            rows.append((str(tree), info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino))
            continue
        folders = [str(tree)]
        while folders:
            try:
                with os.scandir(folders.pop()) as entries:
                    for entry in entries:
                        if entry.name in SKIPPED_IN_DIGESTS:
                            continue
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISDIR(info.st_mode):  # its entries are rows; its times change with __pycache__
                            rows.append((entry.path, info.st_mode))
                            folders.append(entry.path)
                        else:
                            rows.append((entry.path, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                                         info.st_ino))
            except (FileNotFoundError, NotADirectoryError):  # removed meanwhile: the listing differs anyway
                continue
    rows.sort()
    return tuple(rows)


def cached_fingerprint(root: Path, backend: str) -> str:
    """course_fingerprint, hashed again only when the listing of what it reads changed (the
    listing itself taken again only after LISTING_FRESH_S)."""
    key = (str(root), backend)
    known = _FINGERPRINTS.get(key)
    now = time.monotonic()
    if known and now - known[2] < LISTING_FRESH_S:
        return known[1]
    listing = tree_listing(root, backend)
    if known and known[0] == listing:
        _FINGERPRINTS[key] = (listing, known[1], now)
        return known[1]
    fingerprint = course_fingerprint(root, backend)
    _FINGERPRINTS[key] = (listing, fingerprint, now)
    return fingerprint


def cached_assignment(assignment_id: str, root: Path, fingerprint: str) -> catalog.Assignment:
    """The parsed assignment, once per course fingerprint (which covers assignment.yaml and the rubric)
    and worker process: its threads' first tasks wait for one parse instead of each parsing it."""
    key = (str(root), assignment_id, fingerprint)
    with _ASSIGNMENTS_LOCK:
        if key not in _ASSIGNMENTS:
            for stale in [k for k in _ASSIGNMENTS if k[2] != fingerprint]:  # another course build's
                del _ASSIGNMENTS[stale]
            _ASSIGNMENTS[key] = catalog.load(assignment_id, root)
        return _ASSIGNMENTS[key]


def scheduler_ready(dask_scheduler=None) -> bool:
    """Run on the scheduler by the client before a batch: unpickling it imports this module there,
    which the scheduler needs to take in grading tasks; once, before the first tasks wait on it."""
    return True


def _where(dask_worker=None) -> str:
    if dask_worker is None:
        try:
            from distributed import get_worker

            dask_worker = get_worker()
        except (ImportError, ValueError):
            return f"worker on {socket.gethostname()}"
    return f"worker {dask_worker.address} ({socket.gethostname()})"


def check_course(expected: str, backend: str, dask_worker=None) -> str:
    """Raise CourseMismatch (one line) unless this machine's course gives the client's fingerprint.
    (`client.run` passes dask_worker.)"""
    root = catalog.default_root()
    mine = cached_fingerprint(root, backend)
    if mine != expected:
        raise CourseMismatch(
            f"{_where(dask_worker)} refuses: its course {root} has fingerprint {mine}, the client's is {expected} "
            f"(assignments, rubrics, skeleton, tests, grader, image or course secret differ; its secret "
            f"{secret_path()} has id {secret_id()}): give it the client's course and course secret"
        )
    if backend == "docker" and mine not in _IMAGES_PRESENT:
        # Once per course build and worker process: image_tag() hashes the grader's source and the
        # check starts a docker client (an image removed mid-batch fails its containers' start).
        from grader.sandbox import docker
        from grader.sandbox.image import image_tag

        tag = image_tag()
        if not docker.image_present(tag):
            raise CourseMismatch(f"{_where(dask_worker)} refuses: grading image {tag} is not built there "
                                 "(`grader image build` on that machine)")
        _IMAGES_PRESENT.add(mine)
    return mine


def _task_layout(tmp: Path, name: str) -> tuple[Path, Path]:
    """(the submission's path, the grading's own folder) inside a task's folder `tmp`: two entries
    of one folder, so a task makes as few folders as it can (each a costly operation on some disks)."""
    return tmp / name, tmp / ("work" if name != "work" else "work-")


def grade_task(task: dict) -> dict:
    """Grade one submission sent by a cluster client. `task` holds: name (the file or folder
    name), data (its bytes; a folder comes zipped), source (the client's path, for the report),
    mtime_ns (its modification time there), assignment, dataset, student_id, key (the resume cache
    key), backend, fingerprint, identity. Returns the report as JSON and the report folder's other
    files (the logs) as data; the client writes both."""
    from grader.batch.host import with_cpu_share
    from grader.reports.report import report_json
    from grader.sandbox import make_sandbox
    from grader.steps.pipeline import grade_submission
    from grader.steps.report_files import ReportFiles
    from grader.steps.workspace import discard

    fingerprint = check_course(task["fingerprint"], task["backend"])
    name = task["name"]
    if not is_plain_name(name):
        raise GraderError(f"cluster task with an unusable submission name {name!r}")
    assignment = cached_assignment(task["assignment"], catalog.default_root(), fingerprint)
    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError):
        threads = 1
    # Sibling worker processes on this machine (`grader worker --nworkers`, local:N) share its cores.
    siblings = int(os.environ.get(WORKERS_ENV, "1") or 1)
    assignment = with_cpu_share(assignment, threads * max(1, siblings))
    sandbox = make_sandbox(task["backend"])
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="grader-task-"))
    kept = ReportFiles.in_memory(REPORT_FILE_CAP, REPORT_TOTAL_CAP)  # the logs, sent with the report
    try:
        identity = task.get("identity")
        source, work = _task_layout(tmp, name)
        source.write_bytes(task["data"])
        work.mkdir()
        if task.get("mtime_ns") is not None:  # the client's file's time: a plain submission's time comes from it
            os.utime(source, ns=(task["mtime_ns"], task["mtime_ns"]))
        if identity is not None:  # whose it is, as the client found; the bytes to grade are this copy
            identity = dataclasses.replace(identity, source=source)
        # The report names the path the TA gave, not this worker's temporary copy; the client writes it.
        report = grade_submission(source, assignment, sandbox, tmp, dataset=task["dataset"],
                                  student_id=task["student_id"], cache_key=task["key"], identity=identity,
                                  shown_source=task["source"], workdir=work, files=kept)
        report_text = report_json(report)[1]
    finally:
        discard(tmp)
    return {"report": report_text, "files": kept.held, "dropped": kept.dropped, "worker": _where(),
            "seconds": time.monotonic() - started}


def filesystem_of(folder: Path) -> str:
    """The filesystem type a folder is on (/proc/mounts: the longest mount point above it), or "unknown"."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    path = str(Path(folder).resolve())
    best = ("", "unknown")
    for point, kind in mounts:
        point = point.replace("\\040", " ")
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best[0]):
            best = (point, kind)
    return best[1]


def scratch_row(folder: Path) -> tuple[str, bool, str]:
    """Where a worker makes each submission's workspace and report before sending it back."""
    usable = folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    if not usable:
        return "scratch", False, f"{folder}: not a folder this user can write in"
    free = shutil.disk_usage(folder).free / 2**30
    return "scratch", True, (f"{folder} ({filesystem_of(folder)}, {free:.1f} GiB free): the workspaces "
                             "of submissions being graded")


def prepare(backend: str, scratch: Path | None = None) -> list[tuple[str, bool, str]]:
    """What a machine needs to grade: the course, the grading image (docker), the data, a scratch
    folder (`scratch`, else the temp folder). Returns (check, ok, detail) rows."""
    from grader.steps.pipeline import data_root

    rows: list[tuple[str, bool, str]] = []
    root = catalog.default_root()
    ids = catalog.list_ids(root)
    rows.append(("course", bool(ids), f"{root}: {', '.join(ids) or 'no assignments'}"))
    needs_data = []
    for assignment_id in ids:
        try:
            if catalog.load(assignment_id, root).spec.dataset is not None:
                needs_data.append(assignment_id)
        except GraderError as exc:
            rows.append((f"assignment {assignment_id}", False, str(exc)))
    fingerprint = course_fingerprint(root, backend)
    rows.append(("fingerprint", True, f"{fingerprint} ({backend} backend); the client must show the same"))
    rows.append(("secret", True, f"{secret_path()}: id {secret_id()}; the same key as the client's machine "
                 "(copy it from there), or held-out draws differ by worker"))
    if backend == "docker":
        from grader.sandbox import docker
        from grader.sandbox.image import image_tag

        tag = image_tag()
        answers = docker.daemon_answers()
        rows.append(("docker", answers, "daemon answers" if answers else "no Docker daemon answers"))
        present = answers and docker.image_present(tag)
        rows.append(("image", present, f"{tag} " + ("present" if present else "missing: run `grader image build`")))
    data = data_root()
    has_data = data.is_dir() and any(data.iterdir())
    if needs_data:
        rows.append(("data", has_data, f"{data} " + ("present" if has_data else "missing or empty") +
                     f" (needed by {', '.join(needs_data)})"))
    else:
        rows.append(("data", True, "no assignment reads a dataset"))
    rows.append(scratch_row(Path(scratch or tempfile.gettempdir())))
    return rows


def dask_setup(worker) -> None:
    """`dask worker --preload grader.batch.dask_worker`: say which course this worker grades; refuse to
    start without one (the fingerprint itself is checked on every task)."""
    root = catalog.default_root()
    ids = catalog.list_ids(root)
    if not ids:
        raise GraderError(f"no assignments under {root}: set GRADER_ROOT to the course root", root)
    backend = os.environ.get("GRADER_BACKEND", "docker")
    fingerprint = cached_fingerprint(root, backend)  # the client's check and the first task hash no more
    # Ready to grade when it joins: the grading code imported here, once, not by the first submission
    # of each of its threads at once (they held up a batch's first round). Every import grade_task
    # makes: no thread's first task waits on one. (The report page is the client's to render.)
    import grader.batch.host
    import grader.reports.report
    import grader.sandbox
    import grader.steps.pipeline  # noqa: F401
    from grader.steps.workspace import delete_in_background, empty_trash

    for assignment_id in ids:  # parsed once here, not by the first task of each process
        try:
            cached_assignment(assignment_id, root, fingerprint)
        except GraderError:
            pass  # its tasks say why (validate names the problem)
    delete_in_background()
    # What stopped graders left is deleted now, before the first task: the first sweep of each
    # worker process (every 30 s after a submission) also imports the container module it reads
    # /proc with, and in the first round that took the interpreter lock from the process's threads.
    empty_trash()
    print(f"[grader] worker {worker.address}: course {root}, fingerprint {fingerprint} ({backend})", flush=True)
