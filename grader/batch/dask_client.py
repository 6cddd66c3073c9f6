"""Grading on a Dask cluster: the client side.

`--cluster local:N` starts N worker processes on this machine; `tls://HOST:PORT` joins a
cluster secured with certificates from `grader cluster certs`; `tcp://` only on loopback
(or with --insecure). Each submission becomes one task carrying its bytes; the worker returns
the report folder as data and the batch writes it under --out as a local run would."""

from __future__ import annotations

import datetime
import io
import ipaddress
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from grader.batch.dask_worker import QUIET_WORKER_CONFIG, REPORT_TOTAL_CAP, WORKERS_ENV, CourseMismatch
from grader.batch.executors import BatchContext, Job, Outcome, failed_report
from grader.errors import GraderError, RejectedSubmission
from grader.reports.report import Report, write_report
from grader.steps.intake import open_submission
from grader.steps.naming import report_folder

INSECURE_WARNING = (
    "warning: --insecure: plain tcp:// carries submissions unencrypted, and anyone who can reach the "
    "scheduler can run any code on every worker (and on this machine's workers' data) without a "
    "certificate. Use tls:// with certificates from `grader cluster certs` on any network you do not control."
)
CERT_FILES = {  # role -> (certificate, key) under the certificates folder
    "scheduler": ("scheduler.pem", "scheduler-key.pem"),
    "worker": ("worker.pem", "worker-key.pem"),
    "client": ("client.pem", "client-key.pem"),
}
CERTS_ENV = "GRADER_CLUSTER_CERTS"
ALLOWED_FAILURES = 1  # a submission whose worker dies twice is `crashed`; one death re-runs it elsewhere
# Tasks the scheduler gives a worker per thread (Dask's default 1.1 keeps the rest in its own queue).
# A grading task waits on its sandbox, so a worker that holds the next one starts it the moment a
# thread frees, instead of each thread waiting for the scheduler's answer; the executor's window (two
# per thread in all) bounds what waits anywhere, and a busy worker's queue is stolen by an idle one.
# A worker of one thread gets 2 either way. Measured with 8 threads a process (64 workers, each
# submission a 1 s step): the threads of the slower processes fell a round behind and the others
# graded 9 submissions where all graded 8 with 2.0.
WORKER_SATURATION = 2.0


class ClusterLost(GraderError):
    """The scheduler went away mid-batch."""

    exit_code = 3


# ---------------------------------------------------------------- addresses and security


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_address(address: str, insecure: bool, warn=None) -> str:
    """The scheme of a --cluster address, or a one-line error why it is not accepted."""
    if address.startswith("local:"):
        count = address.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise GraderError(f"--cluster {address!r}: expected local:N with N >= 1 workers")
        return "local"
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "tls") or not rest:
        raise GraderError(f"--cluster {address!r}: expected tls://HOST:PORT, tcp://127.0.0.1:PORT or local:N")
    host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 or rest.startswith("[") else rest
    if scheme == "tcp" and not _is_loopback(host):
        if not insecure:
            raise GraderError(f"--cluster {address!r}: plain tcp:// is refused beyond this machine: anyone who can "
                              "reach the scheduler runs code on every worker. Use tls:// (`grader cluster certs`), "
                              "or --insecure on a network you control")
        if warn:
            warn(INSECURE_WARNING)
    return scheme


def certs_folder(certs: Path | None) -> Path:
    """The certificates folder for tls://: --certs, else $GRADER_CLUSTER_CERTS; a one-line error without either."""
    folder = certs or (Path(os.environ[CERTS_ENV]) if os.environ.get(CERTS_ENV) else None)
    if folder is None:
        raise GraderError(f"tls:// needs certificates: --certs DIR or ${CERTS_ENV} "
                          "(made by `grader cluster certs DIR`)")
    return folder


def security_for(certs: Path | None, role: str = "client"):
    """Dask TLS security from a certificates folder written by `make_certs`."""
    from distributed.security import Security

    folder = certs_folder(certs)
    cert, key = (folder / name for name in CERT_FILES[role])
    for path in (folder / "ca.pem", cert, key):
        if not path.is_file():
            raise GraderError("certificate file missing (make them with `grader cluster certs DIR`)", path)
    kwargs = {"tls_ca_file": str(folder / "ca.pem"), f"tls_{role}_cert": str(cert), f"tls_{role}_key": str(key)}
    return Security(require_encryption=True, **kwargs)


def make_certs(folder: Path, days: int = 365) -> list[Path]:
    """A certificate authority for one course and a certificate per role, signed by it. Workers,
    scheduler and clients accept only peers with a certificate from this CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if (folder / "ca.pem").exists():
        raise GraderError("certificates exist already (remove the folder to make new ones)", folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    usage = {"content_commitment": False, "key_encipherment": False, "data_encipherment": False,
             "key_agreement": False, "encipher_only": False, "decipher_only": False}

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "grader course cluster"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(key, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(name("grader cluster CA")).issuer_name(name("grader cluster CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(valid_from).not_valid_after(valid_to)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
                              critical=True)
               .sign(ca_key, hashes.SHA256()))
    written = [folder / "ca.pem", folder / "ca-key.pem"]
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_key(ca_key, folder / "ca-key.pem")
    for role, (cert_name, key_name) in CERT_FILES.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(f"grader {role}")).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(valid_from).not_valid_after(valid_to)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"grader-{role}")]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        (folder / cert_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, folder / key_name)
        written += [folder / cert_name, folder / key_name]
    return written


def tls_arguments(certs: Path, role: str) -> list[str]:
    """`dask scheduler` / `dask worker` options for the certificates of `role`."""
    cert, key = CERT_FILES[role]
    return ["--tls-ca-file", str(certs / "ca.pem"), "--tls-cert", str(certs / cert), "--tls-key", str(certs / key)]


# ---------------------------------------------------------------- connecting


def connect(address: str, *, certs: Path | None, insecure: bool, warn=None):
    """A connected distributed.Client (and the LocalCluster it owns, for local:N)."""
    import dask
    from distributed import Client, LocalCluster

    scheme = check_address(address, insecure, warn)
    # Its reconnect attempts and tracebacks would bury the one line the batch prints when the
    # scheduler is lost.
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if scheme == "local":
        os.environ[WORKERS_ENV] = address.split(":", 1)[1]  # the spawned workers share this machine's cores
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                              "distributed.scheduler.worker-saturation": WORKER_SATURATION, **QUIET_WORKER_CONFIG}):
            cluster = LocalCluster(n_workers=int(address.split(":", 1)[1]), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=50)
        return Client(cluster), cluster
    security = security_for(certs) if scheme == "tls" else None
    try:
        client = Client(address, security=security, timeout=15)
    except (OSError, TimeoutError) as exc:
        raise GraderError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        # The scheduler's own setting decides when a task is `KilledWorker`; ours must hold
        # whatever config the scheduler was started with. Defined here so it travels by value.
        # Its worker saturation is raised to ours unless it is higher (inf: no queue at all).
        def set_failures(dask_scheduler=None, allowed=ALLOWED_FAILURES, saturation=WORKER_SATURATION):
            dask_scheduler.allowed_failures = allowed
            if getattr(dask_scheduler, "WORKER_SATURATION", saturation) < saturation:
                dask_scheduler.WORKER_SATURATION = saturation
            return allowed

        client.run_on_scheduler(set_failures)
    except Exception as exc:  # noqa: BLE001 - an old or locked-down scheduler: say so, grade anyway
        if warn:
            warn(f"notice: could not set the scheduler's allowed-failures ({type(exc).__name__}); a submission that "
                 "kills workers is reported crashed only after the scheduler's own limit")
    return client, None


def check_workers(client, fingerprint: str, backend: str, wait_s: float = 30) -> dict[str, int]:
    """Wait for a worker, then have every worker check its course; the first refusal is the error.
    The scheduler imports the grader's task module here too (scheduler_ready), not under the first tasks."""
    from grader.batch.dask_worker import check_course, scheduler_ready

    deadline = time.monotonic() + wait_s
    while not client.nthreads():
        if time.monotonic() > deadline:
            raise GraderError(f"no Dask worker joined the scheduler within {wait_s:g} s")
        time.sleep(0.2)
    try:
        client.run(check_course, fingerprint, backend)
    except CourseMismatch:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the worker cannot import grader at all
        raise GraderError(f"a Dask worker cannot check its course: {type(exc).__name__}: {exc}") from None
    try:
        client.run_on_scheduler(scheduler_ready)
    except Exception:  # noqa: BLE001 - the batch's tasks say what is wrong with the scheduler, if anything
        pass
    return dict(client.nthreads())


# ---------------------------------------------------------------- the executor


def _payload_bytes(job: Job, ctx: BatchContext) -> tuple[str, bytes]:
    """What travels to the worker: a zip or file as it is; a folder checked by intake here and
    zipped (under its own name, so the stem stays the same)."""
    limits = ctx.assignment.spec.intake
    source = job.source
    if source.is_dir() and not source.is_symlink():
        if job.identity is not None and job.identity.error and not job.whose():
            raise RejectedSubmission(job.identity.error, source)  # as the local pipeline rejects it
        with tempfile.TemporaryDirectory(prefix="grader-pack-") as tmp:
            submission = open_submission(source, Path(tmp) / "files", limits, job.whose())
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for rel in submission.files:
                    archive.write(submission.path_of(rel), f"{job.stem}/{rel}")
            return f"{job.stem}.zip", buffer.getvalue()
    size = source.lstat().st_size
    # A zip holds at most max_bytes after extraction; headers and junk entries add some.
    if size > 4 * limits.max_bytes + (1 << 20):
        raise RejectedSubmission(f"file is {size} bytes, larger than a submission within the limit of "
                                 f"{limits.max_bytes} bytes can be", source)
    return source.name, source.read_bytes()


def _mtime_ns(source: Path) -> int | None:
    """When the submission's file (or folder) was last changed here, as grader.steps.lms.file_time reads it."""
    try:
        return source.stat().st_mtime_ns
    except OSError:
        return None


def safe_relative(name: str) -> PurePosixPath:
    """A path a worker returned, accepted only when it stays inside the report folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in path.parts):
        raise GraderError(f"a worker returned a report file with an unsafe name {name!r}")
    return path


REPORT_OWN_FILES = ("report.json", "report.html")  # written here from the returned report, never from a worker's bytes


def write_report_files(files: dict[str, bytes], folder: Path) -> None:
    """A worker's report folder files (the logs) into a fresh `folder`."""
    total = sum(len(b) for b in files.values())
    if total > REPORT_TOTAL_CAP:
        raise GraderError(f"a worker returned {total} bytes of report, more than the cap of {REPORT_TOTAL_CAP}")
    folder.mkdir(parents=True)
    for name, data in files.items():
        if name in REPORT_OWN_FILES:
            raise GraderError(f"a worker returned a report file {name!r} beside the report")
        target = folder.joinpath(*safe_relative(name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as f:  # a fresh folder: nothing there to write through
            f.write(data)


class DaskExecutor:
    """Submissions as tasks on a Dask cluster; a few more in flight than there are worker threads."""

    def __init__(self, client, backend: str, fingerprint: str, address: str, cluster=None):
        self.client, self.cluster = client, cluster
        self.backend, self.fingerprint, self.address = backend, fingerprint, address
        self._pending: list[Job] = []
        self._futures: dict[str, tuple[Job, object]] = {}
        self._ready: list[Outcome] = []
        self._resubmitted: set[str] = set()  # jobs whose finished result was lost with its worker
        self._as_completed = None
        self._ctx: BatchContext | None = None
        self._threads = 1
        self._threads_at = 0.0
        self._activity: list[tuple[str, str]] = []
        self._activity_at = 0.0
        self._lost_since: float | None = None
        self._stopped = threading.Event()

    @property
    def dashboard(self) -> str | None:
        return self.client.dashboard_link

    def describe(self) -> str:
        workers = self.client.nthreads()
        return (f"Dask cluster {self.address}: {len(workers)} workers, {sum(workers.values())} threads, "
                f"{self.backend} backend")

    def parallelism(self) -> int:
        if time.monotonic() - self._threads_at > 2:
            try:
                self._threads = max(1, sum(self.client.nthreads().values()))
            except Exception:  # noqa: BLE001 - a lost scheduler is noticed in next_done
                pass
            self._threads_at = time.monotonic()
        return self._threads

    def start(self, jobs: list[Job], ctx: BatchContext) -> None:
        from distributed import as_completed

        self._ctx = ctx
        self._pending = list(jobs)
        self._as_completed = as_completed()
        self._top_up()

    def _top_up(self) -> None:
        from grader.batch.dask_worker import grade_task

        window = 2 * self.parallelism() + 2
        jobs, tasks = [], []
        while self._pending and len(self._futures) + len(tasks) < window and not self._stopped.is_set():
            job = self._pending.pop(0)
            try:
                name, data = _payload_bytes(job, self._ctx)
            except RejectedSubmission as exc:
                self._ready.append(self._local_outcome(job, "rejected", str(exc)))
                continue
            jobs.append(job)
            tasks.append({"name": name, "data": data, "source": str(job.source), "mtime_ns": _mtime_ns(job.source),
                          "assignment": self._ctx.assignment.id,
                          "dataset": self._ctx.dataset, "student_id": job.student_id, "key": job.key,
                          "backend": self.backend, "fingerprint": self.fingerprint, "identity": job.identity})
        if not tasks:
            return
        # One request for all of them: the scheduler takes in many tasks at once for little more than one.
        keys = [f"grade-{uuid.uuid4().hex[:12]}" for _ in tasks]
        futures = self.client.map(grade_task, tasks, key=keys, retries=1, pure=False)
        for job, future in zip(jobs, futures):
            self._futures[future.key] = (job, future)
        self._as_completed.update(futures)

    def _local_outcome(self, job: Job, status: str, message: str) -> Outcome:
        report = failed_report(job, self._ctx, status, message, self.backend)
        folder = report_folder(self._ctx.job_folder(), job.stem)
        write_report(report, folder)
        return Outcome(job, report, folder)

    def _gather(self, futures: list) -> dict:
        """The results of the finished futures among `futures`, {key: result}, fetched in one
        request (each future.result() was a round trip of its own, one after another, and capped
        how fast a batch's reports came back); a key missing here is fetched on its own in _outcome."""
        finished = {future.key: future for future in futures if future.status == "finished"}
        if not finished:
            return {}
        try:
            results = self.client.gather(finished, errors="skip")
        except Exception:  # noqa: BLE001 - each is asked for again on its own, with its own error
            return {}
        return {key: result for key, result in results.items() if result is not None}

    def _outcome(self, future, fetched: dict | None = None) -> Outcome | None:
        from distributed.scheduler import KilledWorker

        job, _ = self._futures.pop(future.key)
        if future.status == "finished":
            folder = self._ctx.new_folder()
            result: dict = {}
            try:
                result = fetched if fetched is not None else future.result()
                report = Report.model_validate_json(result["report"])
                write_report_files(result["files"], folder)
                if result.get("dropped"):
                    report.warnings.append(f"left out of the report (over the size cap or not a regular file): "
                                           f"{', '.join(result['dropped'][:10])}")
                write_report(report, folder)  # report.json and the page, written here once
            except Exception as exc:  # noqa: BLE001 - a result that did not arrive or does not parse
                return self._local_outcome(job, "error", f"{result.get('worker', 'a worker')} returned no usable "
                                           f"report: {exc}")
            return Outcome(job, report, folder)
        if future.status == "cancelled":
            raise ClusterLost(f"lost the Dask scheduler at {self.address}; the finished reports are kept: "
                              "run the same command to resume")
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            return self._local_outcome(job, "crashed", f"the workers grading it died {ALLOWED_FAILURES + 1} times "
                                       f"(last {exc.last_worker.address}); not graded")
        if isinstance(exc, CourseMismatch) or type(exc).__name__ == "CourseMismatch":
            raise CourseMismatch(str(exc))
        if exc is None and job.key not in self._resubmitted:
            # Finished, but its result was lost with the worker that held it (another submission
            # killed that worker): graded again once, from the start. None: nothing to report yet.
            self._resubmitted.add(job.key)
            self._pending.insert(0, job)
            return None
        return self._local_outcome(job, "error", f"the worker failed: {type(exc).__name__}: {exc}")

    def next_done(self, timeout: float) -> list[Outcome]:
        deadline = time.monotonic() + timeout
        while not self._ready:
            if self._as_completed.has_ready():
                futures = self._as_completed.next_batch(block=False)
                results = self._gather(futures)
                for future in futures:
                    if (outcome := self._outcome(future, results.get(future.key))) is not None:
                        self._ready.append(outcome)
                self._top_up()
                break
            self._check_scheduler()
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        ready, self._ready = self._ready, []
        return ready

    def _check_scheduler(self) -> None:
        if self.client.status == "running":
            self._lost_since = None
            return
        self._lost_since = self._lost_since or time.monotonic()
        if self.client.status in ("closed", "closing") or time.monotonic() - self._lost_since > 10:
            raise ClusterLost(f"lost the Dask scheduler at {self.address}; the finished reports are kept: "
                              "run the same command to resume")

    def activity(self) -> list[tuple[str, str]]:
        if time.monotonic() - self._activity_at > 1 and self.client.status == "running":
            self._activity_at = time.monotonic()
            try:
                processing = self.client.processing()
            except Exception:  # noqa: BLE001 - shown as stale until the scheduler answers again
                return self._activity
            stems = {key: job.stem for key, (job, _) in list(self._futures.items())}  # list(): one atomic copy
            self._activity = [(worker, ", ".join(stems.get(k, "?") for k in keys) or "idle")
                              for worker, keys in sorted(processing.items())]
        return self._activity

    def stop(self) -> None:
        self._stopped.set()
        self._pending.clear()
        try:
            self.client.cancel([future for _, future in self._futures.values()], force=True)
        except Exception:  # noqa: BLE001 - the scheduler may be gone already
            pass

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass
