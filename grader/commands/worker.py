"""`grader worker`: prepare this machine to grade for a cluster (course, image, data) and start a
Dask worker on it that preloads grader.batch.dask_worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.batch.dask_client import certs_folder, check_address, tls_arguments
from grader.batch.dask_worker import WORKERS_ENV, prepare, quiet_worker_env
from grader.commands.session import Session, cluster_backend
from grader.errors import GraderError


def worker_argv(scheduler: str, scheme: str, certs: Path | None, nworkers: int, threads: int = 1) -> list[str]:
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--preload", "grader.batch.dask_worker",
            "--nthreads", str(threads), "--nworkers", str(nworkers)]
    if scheme == "tls":
        argv += tls_arguments(certs_folder(certs), "worker")
    return argv


def worker_env(backend: str, nworkers: int, environ: dict[str, str] | None = None,
               scratch: Path | None = None) -> dict[str, str]:
    """The environment `grader worker` starts `dask worker` in: the backend, how many worker
    processes share this machine's cores (each submission gets its share), Dask's background
    work quieted (grader.batch.dask_worker.QUIET_WORKER_CONFIG) unless the TA set it otherwise,
    and the scratch folder (TMPDIR: workspaces and the trash) if given."""
    env = {**quiet_worker_env(), **(os.environ if environ is None else environ)}
    env.update({"GRADER_BACKEND": backend, WORKERS_ENV: str(nworkers)})
    if scratch is not None:
        env["TMPDIR"] = str(scratch)
    return env


def run(session: Session, scheduler: str, backend: str | None, certs: Path | None, insecure: bool, nworkers: int,
        check_only: bool, scratch: Path | None = None) -> None:
    chosen = cluster_backend(backend)
    if scratch is not None:
        scratch = scratch.resolve()
    rows = prepare(chosen, scratch)
    for name, ok, detail in rows:
        session.console.print(f"{'[green]ok[/]  ' if ok else '[red]FAIL[/]'} {name}: {detail}", highlight=False)
    if not all(ok for _, ok, _ in rows):
        raise GraderError("this machine is not ready to grade (see FAIL above)")
    if check_only:
        return
    scheme = check_address(scheduler, insecure, warn=session.notice)
    if scheme == "local":
        raise GraderError("a worker joins a scheduler: tls://HOST:PORT or tcp://127.0.0.1:PORT")
    argv = worker_argv(scheduler, scheme, certs, nworkers)
    session.console.print("starting: " + " ".join(argv), highlight=False, markup=False)
    os.execve(sys.executable, argv, worker_env(chosen, nworkers, scratch=scratch))


def certs(session: Session, folder: Path, days: int) -> None:
    """`grader cluster certs`: a course's certificate authority and its three certificates."""
    from grader.batch.dask_client import make_certs

    for path in make_certs(folder, days):
        session.console.print(f"wrote {path}", highlight=False)
    session.console.print("scheduler: dask scheduler --protocol tls " + " ".join(tls_arguments(folder, "scheduler")),
                          highlight=False, markup=False)
    session.console.print("worker:    grader worker tls://SCHEDULER:8786 --certs " + str(folder), highlight=False,
                          markup=False)
    session.console.print("grade:     grader grade SUBMISSIONS --cluster tls://SCHEDULER:8786 --certs " + str(folder),
                          highlight=False, markup=False)
