"""The Docker backend: every command in a fresh container with no network, a read-only root,
a non-root user, no capabilities, and the limits of SandboxLimits enforced by the kernel.
The host reads the container's CPU time from its cgroup and stops it at the CPU-time limit
(or when it is idle, or at the wall-clock ceiling)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from grader.course.spec import SandboxLimits
from grader.errors import GraderError
from grader.safe_fs import walk
from grader.sandbox.base import (
    CANCELLED,
    LIMIT_MEMORY,
    LIMIT_WORKSPACE,
    Reading,
    RunRequest,
    RunResult,
    open_log,
    step_environment,
    supervise,
)
from grader.sandbox.cpu import (
    CGROUP_ROOTS,
    CONTAINER_PARENTS,
    cgroup_cpu_seconds,
    cgroup_held,
    cgroup_memory_peak,
    cgroup_oom_killed,
    container_cgroup,
)
from grader.sandbox.host_memory import reservation

# Every container a grader starts carries these labels: which grader run, on which host, by
# which process (and when that process started), so clean-up removes only what a dead grader left.
LABEL_KEY = "org.grader.sandbox"
LABEL = f"{LABEL_KEY}=1"
RUN_LABEL = "org.grader.run"
HOST_LABEL = "org.grader.host"
PID_LABEL = "org.grader.pid"
START_LABEL = "org.grader.pid-start"
SANDBOX_UID = 10001
CONTAINER_PATH = "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def daemon_answers() -> bool:
    try:
        return _docker("info", "--format", "{{.ServerVersion}}", timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_present(tag: str) -> bool:
    try:
        return _docker("image", "inspect", tag, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot): with the pid, it names one process
    even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def owner_is_gone(host: str, pid: str, started: str) -> bool:
    """Only a container of a grader on this host whose process no longer exists is stale;
    another host's, an unlabelled one or a live grader's is never touched."""
    if host != socket.gethostname() or not pid.isdigit():
        return False
    now = _process_start(int(pid))
    return now is None or bool(started) and now != started


def remove_stale_containers() -> list[str]:
    """Containers a grader that died (SIGKILL, a crash) left behind; returns their ids."""
    fmt = "\t".join(["{{.ID}}"] + [f'{{{{.Label "{key}"}}}}' for key in (HOST_LABEL, PID_LABEL, START_LABEL)])
    try:
        lines = _docker("ps", "-a", "--filter", f"label={LABEL}", "--format", fmt).stdout.splitlines()
        stale = [fields[0] for fields in (line.split("\t") for line in lines)
                 if len(fields) == 4 and owner_is_gone(fields[1], fields[2], fields[3])]
        if stale:
            _docker("rm", "-f", *stale)
        return stale
    except (OSError, subprocess.TimeoutExpired):
        return []


def _hand_to_sandbox_user(workspace: Path, limits: SandboxLimits) -> None:
    """The container runs as an unprivileged user who must own its workspace, and nothing else.
    Links are changed themselves, never followed; the walk stops at the workspace's limits."""
    entries = list(walk(workspace, max_entries=limits.workspace_files + 100))
    if os.geteuid() == 0:
        for path in [str(workspace), *(e.path for e in entries)]:
            os.lchown(path, SANDBOX_UID, SANDBOX_UID)
    else:
        os.chmod(workspace, 0o777)
        for entry in entries:
            if entry.is_dir or entry.is_file:  # a link's mode is its target's: left alone
                os.chmod(entry.path, 0o777 if entry.is_dir else 0o666)


SANDBOX_PARENT = CONTAINER_PARENTS[1]
# The parent cgroup's CPU weight: each container is already held to its --cpus quota, so a high
# weight only means a container gets its cores before the host's other processes do. Under
# Docker's own parent, which competes as ONE process with every process of the host (cgroup v1),
# a container beside busy local processes got 32 s of CPU in 49 minutes.
SANDBOX_SHARES_V1 = 65536  # cpu.shares, 2..262144 (a busy process: 1024)
SANDBOX_WEIGHT_V2 = 10000  # cpu.weight, 1..10000 (a process: 100)


_parent_lock = threading.Lock()
_parent_found: tuple[str | None, str] | None = None  # this process's (cgroup_parent, why none), once Docker answered


def cgroup_parent(notice=None) -> str | None:
    """The --cgroup-parent for grading containers: a cgroup of the grader's own whose CPU weight
    holds against host processes, created (as root) on first use; None where it cannot be made
    (another cgroup driver, no rights): containers then stay under Docker's parent, with a notice.
    Found once per process (a Dask worker makes a sandbox per task), unless `docker info` did not
    answer then."""
    global _parent_found
    with _parent_lock:
        found = _parent_found
        if found is None:
            found, answered = _find_cgroup_parent()
            if answered:
                _parent_found = found
    parent, why = found
    if parent is None and notice:
        notice(f"notice: containers run under Docker's own cgroup ({why}): host processes can slow them down")
    return parent


def _find_cgroup_parent() -> tuple[tuple[str | None, str], bool]:
    """((the parent or None, why none), whether `docker info` answered)."""
    try:
        info = _docker("info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}", timeout=20).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        info = []
    driver, version = (info + ["", ""])[:2]
    why = f"cgroup driver {driver or 'unknown'}"
    if driver == "cgroupfs":
        try:
            for base in CGROUP_ROOTS:
                if version == "1" and (base / "cpu").is_dir():
                    folder = base / "cpu" / SANDBOX_PARENT
                    folder.mkdir(exist_ok=True)
                    (folder / "cpu.shares").write_text(str(SANDBOX_SHARES_V1))
                    return ("/" + SANDBOX_PARENT, ""), True
                if version == "2" and (base / "cgroup.controllers").is_file():
                    folder = base / SANDBOX_PARENT
                    folder.mkdir(exist_ok=True)
                    (folder / "cpu.weight").write_text(str(SANDBOX_WEIGHT_V2))
                    return ("/" + SANDBOX_PARENT, ""), True
        except OSError as exc:
            why = f"cannot set up cgroup {SANDBOX_PARENT} ({exc.strerror or exc})"
    return (None, why), bool(info)


class DockerSandbox:
    name = "docker"
    parent: str | None = None  # --cgroup-parent (cgroup_parent()); None: Docker's own

    def __init__(self, image: str, notice=None):
        if not daemon_answers():
            raise GraderError("the Docker daemon does not answer (is dockerd running?)")
        if not image_present(image):
            raise GraderError(f"grading image {image} is not built: run `grader image build`")
        self.image = image
        self.run_id = uuid.uuid4().hex[:12]
        self.labels = {LABEL_KEY: "1", RUN_LABEL: self.run_id, HOST_LABEL: socket.gethostname(),
                       PID_LABEL: str(os.getpid()), START_LABEL: _process_start(os.getpid()) or ""}
        self._live: dict[str, subprocess.Popen | None] = {}
        self._lock = threading.Lock()
        self._cancelled = False
        self.notice = notice
        self.parent = cgroup_parent(notice)
        remove_stale_containers()

    def python(self) -> str:
        return "python3"

    def cancel_all(self) -> None:
        """Kill this run's containers at once and start no new one; other graders' containers
        are not touched."""
        with self._lock:
            self._cancelled = True
            live = dict(self._live)
        if not live:
            return
        try:
            _docker("rm", "-f", *live, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for proc in live.values():
            if proc is not None and proc.poll() is None:
                proc.kill()

    def docker_argv(self, request: RunRequest, name: str, cidfile: Path | None = None) -> list[str]:
        limits = request.limits
        env = {"PATH": CONTAINER_PATH, "HOME": "/work", "TMPDIR": "/tmp", **step_environment(limits), **request.env}
        argv = ["docker", "run", "--rm", "--name", name, "--init", "--log-driver", "none"]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        if cidfile is not None:
            argv += ["--cidfile", str(cidfile)]
        if self.parent:
            argv += ["--cgroup-parent", self.parent]
        argv += ["--network", "none",
                 "--memory", f"{limits.memory_mb}m", "--memory-swap", f"{limits.memory_mb}m",
                 "--cpus", f"{limits.cpus:g}", "--pids-limit", str(limits.pids),
                 "--read-only", "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmpfs_mb}m",
                 "--user", f"{SANDBOX_UID}:{SANDBOX_UID}", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                 "--ulimit", f"cpu={limits.cpu_seconds + 5}", "--ulimit", "core=0",
                 "--ulimit", f"fsize={limits.workspace_mb * 1024 * 1024}",
                 "-v", f"{request.workspace}:/work:rw", "-w", "/work"]
        for data in request.data_dirs:
            if Path(data).is_dir():
                argv += ["-v", f"{data}:{data}:ro"]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        # One pipe for both streams inside the container: the daemon reads a container's stdout and
        # stderr apart and the client interleaves them as they arrive, so a warning could land in the
        # middle of a Summary line; the local backend's log already has writes in the order made.
        return argv + [self.image, "/bin/sh", "-c", 'exec "$@" 2>&1', "step", *request.argv]

    def run(self, request: RunRequest) -> RunResult:
        limits = request.limits
        name = f"grader-{self.run_id[:8]}-{uuid.uuid4().hex[:8]}"
        with open_log(request.log_path) as log, tempfile.TemporaryDirectory(prefix="grader-cid-") as tmp:
            try:
                _hand_to_sandbox_user(request.workspace, limits)
            except OSError as exc:
                message = f"the workspace cannot be handed to the sandbox: {exc.strerror or exc}"
                log.write(f"[grader] {message}\n".encode())
                return RunResult(None, False, 0.0, False, error=message, limit=LIMIT_WORKSPACE, limits=limits)
            cidfile = Path(tmp) / "cid"
            with reservation(limits.memory_mb, cancelled=lambda: self._cancelled, on_wait=self._waiting) as held:
                if not held:
                    log.write(f"[grader] {CANCELLED}\n".encode())
                    return RunResult(None, False, 0.0, False, error=CANCELLED, limits=limits)
                result = self._run_container(request, name, cidfile, log)
        return result

    def _waiting(self, used_mb: int, budget_mb: int) -> None:
        if self.notice:
            self.notice(f"notice: waiting for memory: containers on this host hold {used_mb} of {budget_mb} MB "
                        "(grader/sandbox/host_memory.py); grades stay the same, grading is slower")

    def _run_container(self, request: RunRequest, name: str, cidfile: Path, log) -> RunResult:
        limits = request.limits
        start = time.monotonic()
        with self._lock:
            if self._cancelled:
                log.write(f"[grader] {CANCELLED}\n".encode())
                return RunResult(None, False, 0.0, False, error=CANCELLED, limits=limits)
            try:
                proc = subprocess.Popen(self.docker_argv(request, name, cidfile), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                log.write(f"[grader] could not start docker: {exc}\n".encode())
                return RunResult(None, False, 0.0, False, error=f"could not start docker: {exc.strerror or exc}",
                                 limits=limits)
            self._live[name] = proc
        probe = _CgroupProbe(cidfile)
        watch = None
        try:
            watch = supervise(proc, request, log, stop=lambda late: late and _docker("kill", name),
                              measure=probe.reading)
            tail = _tail_of(log, request.log_path)
        finally:
            if proc.poll() is None or watch is None or watch.limit is not None:
                proc.kill()  # the client; the container itself goes with rm -f (--rm covers a normal exit)
                proc.wait()
                _docker("rm", "-f", name)
            with self._lock:
                self._live.pop(name, None)
        seconds = time.monotonic() - start
        exit_code = proc.returncode
        peak = watch.memory_peak_bytes
        common = dict(limit=watch.limit, cpu_seconds=watch.cpu_seconds, limits=limits,
                      memory_peak_mb=None if peak is None else round(peak / 2**20, 1))
        if self._cancelled:
            return RunResult(exit_code, False, seconds, watch.truncated, error=CANCELLED, **common)
        if watch.limit is None and exit_code == 137 and probe.oom:
            message = f"killed: out of memory (limit {limits.memory_mb} MB)"
            _append_note(request, message)
            return RunResult(exit_code, False, seconds, watch.truncated, error=message,
                             **{**common, "limit": LIMIT_MEMORY})
        if watch.limit is None and (exit_code == 125 or exit_code in (126, 127) and "OCI runtime" in tail):
            return RunResult(exit_code, False, seconds, watch.truncated, error=f"the container did not start: {tail}",
                             **common)
        return RunResult(exit_code, watch.limit is not None, seconds, watch.truncated, **common)


class _CgroupProbe:
    """CPU time, peak memory and OOM kills of one container, read from its cgroup while it runs."""

    def __init__(self, cidfile: Path):
        self.cidfile = cidfile
        self.cpu_file: Path | None = None
        self.memory: Path | None = None
        self.oom = False
        self._looked = 0

    def cpu_seconds(self) -> float | None:
        if self.cpu_file is None and self._looked < 50:
            self._looked += 1
            try:
                container_id = self.cidfile.read_text().strip()
            except OSError:
                return None
            if container_id:
                self.cpu_file, self.memory = container_cgroup(container_id)
        if self.cpu_file is None:
            return None
        self.oom = self.oom or cgroup_oom_killed(self.memory)
        return cgroup_cpu_seconds(self.cpu_file)

    def memory_peak(self) -> int | None:
        """The container cgroup's peak memory so far (read while it runs: --rm removes the cgroup)."""
        return cgroup_memory_peak(self.memory)

    def held(self) -> bool:
        """Whether the container waits for a core or is paused (then it is starved, not idle)."""
        return self.cpu_file is not None and cgroup_held(self.cpu_file)

    def reading(self) -> Reading:
        """One poll's measures (supervise); the cgroup's files each answer one of them."""
        cpu = self.cpu_seconds()  # first: it finds the cgroup the others read
        return Reading(cpu, self.memory_peak(), self.held)


def _append_note(request: RunRequest, message: str) -> None:
    """A note after the log was closed: appended only to the regular file the grader wrote,
    never through a link the sandbox put in its place."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(request.log_path, flags)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.write(fd, f"\n[grader] {message}\n".encode())
    finally:
        os.close(fd)


def _tail_of(log, path: Path) -> str:
    """The last line the grader itself wrote to the log (read back through the open file)."""
    try:
        log.flush()
        with open(log.fileno(), "rb", closefd=False) as again:
            again.seek(max(0, os.fstat(log.fileno()).st_size - 4096))
            lines = again.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:200] if lines else ""
    except (OSError, ValueError):
        return ""
