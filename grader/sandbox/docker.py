"""The Docker backend: every command in a fresh container with no network, a read-only root,
a non-root user, no capabilities, and the limits of SandboxLimits enforced by the kernel.
The wall clock is enforced from the host, which kills and removes the container."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

from grader.errors import GraderError
from grader.sandbox.base import RunRequest, RunResult, supervise

LABEL = "org.grader.sandbox=1"
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


def remove_stale_containers() -> None:
    """Containers a crashed grader left behind (the label marks ours)."""
    try:
        ids = _docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
        if ids:
            _docker("rm", "-f", *ids)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _hand_to_sandbox_user(workspace: Path) -> None:
    """The container runs as an unprivileged user who must own its workspace, and nothing else."""
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(workspace):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(name, SANDBOX_UID, SANDBOX_UID)
    else:
        for root, dirs, files in os.walk(workspace):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chmod(name, 0o777 if os.path.isdir(name) else 0o666)


class DockerRunner:
    name = "docker"

    def __init__(self, image: str):
        if not daemon_answers():
            raise GraderError("the Docker daemon does not answer (is dockerd running?)")
        if not image_present(image):
            raise GraderError(f"grading image {image} is not built: run `grader image build`")
        self.image = image
        self._live: set[str] = set()
        self._lock = threading.Lock()
        remove_stale_containers()

    def python(self) -> str:
        return "python3"

    def cancel_all(self) -> None:
        with self._lock:
            names = list(self._live)
        for name in names:
            _docker("rm", "-f", name)

    def docker_argv(self, request: RunRequest, name: str) -> list[str]:
        limits = request.limits
        threads = str(max(1, int(limits.cpus)))
        env = {"PATH": CONTAINER_PATH, "HOME": "/work", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "GRADER_SANDBOX": "1", **request.env}
        argv = ["docker", "run", "--name", name, "--label", LABEL, "--init",
                "--network", "none",
                "--memory", f"{limits.memory_mb}m", "--memory-swap", f"{limits.memory_mb}m",
                "--cpus", f"{limits.cpus:g}", "--pids-limit", str(limits.pids),
                "--read-only", "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmpfs_mb}m",
                "--user", f"{SANDBOX_UID}:{SANDBOX_UID}", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--ulimit", f"cpu={limits.cpu_seconds}", "--ulimit", "core=0",
                "-v", f"{request.workspace}:/work:rw", "-w", "/work"]
        for data in request.data_dirs:
            if Path(data).is_dir():
                argv += ["-v", f"{data}:{data}:ro"]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        return argv + [self.image, *request.argv]

    def run(self, request: RunRequest) -> RunResult:
        limits = request.limits
        _hand_to_sandbox_user(request.workspace)
        name = f"grader-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._live.add(name)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(self.docker_argv(request, name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            timed_out, truncated = supervise(proc, request, stop=lambda late: late and _docker("kill", name))
            seconds = time.monotonic() - start
            state = _docker("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name).stdout.split()
        finally:
            _docker("rm", "-f", name)
            with self._lock:
                self._live.discard(name)
        oom = bool(state) and state[0] == "true"
        exit_code = int(state[1]) if len(state) > 1 else proc.returncode
        if oom:
            with open(request.log_path, "ab") as log:
                log.write(f"\n[grader] killed: out of memory (limit {limits.memory_mb} MB)\n".encode())
            return RunResult(exit_code, timed_out, seconds, truncated, error=f"killed: out of memory (limit {limits.memory_mb} MB)")
        if exit_code == 125 and not timed_out:  # docker itself refused to start the container
            return RunResult(exit_code, False, seconds, truncated, error=f"the container did not start: {_tail(request.log_path)}")
        return RunResult(exit_code, timed_out, seconds, truncated)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip().splitlines()[-1][:200]
    except (OSError, IndexError):
        return ""
