import os
import sys
import time

from grader.course.spec import SandboxLimits
from grader.sandbox import LocalSandbox, RunRequest


def run(tmp_path, code, **limits):
    req = RunRequest(argv=[sys.executable, "-c", code], workspace=tmp_path, log_path=tmp_path / "log.txt",
                     limits=SandboxLimits(**{"wall_seconds": 20, **limits}))
    return LocalSandbox().run(req), (tmp_path / "log.txt").read_text(errors="replace")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_timeout_kills_the_whole_process_tree(tmp_path):
    code = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "open('child.pid', 'w').write(str(child.pid))\n"
            "print('started', flush=True)\n"
            "time.sleep(600)\n")
    start = time.monotonic()
    result, log = run(tmp_path, code, wall_seconds=20, idle_seconds=2)
    assert result.timed_out and not result.ok and 2 <= time.monotonic() - start < 15
    assert "started" in log and result.limit == "idle"
    assert log.endswith("[grader] stopped as idle after 0 s of CPU: no CPU used for 2 s (sleeping or blocked)\n")
    assert result.describe().startswith("stopped as idle: no CPU used for 2 s, sleeping or blocked (")
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the sleeping grandchild survived the timeout"


def test_cpu_time_of_the_whole_tree_is_the_limit(tmp_path):
    # two processes each under the budget, together over it: the session's CPU time counts
    code = ("import subprocess, sys, time\n"
            "burn = 'import time\\nend = time.process_time() + 30\\nwhile time.process_time() < end: pass'\n"
            "child = subprocess.Popen([sys.executable, '-c', burn])\n"
            "end = time.process_time() + 30\n"
            "while time.process_time() < end: pass\n")
    start = time.monotonic()
    result, log = run(tmp_path, code, cpu_seconds=2, wall_seconds=60)
    assert result.timed_out and result.limit == "cpu" and time.monotonic() - start < 20
    assert 2 <= result.cpu_seconds < 6
    assert log.endswith("[grader] stopped at the CPU-time limit of 2 s\n")
    assert result.describe().startswith("stopped at the CPU-time limit of 2 s")


def test_wall_backstop_is_scaled_by_the_cores_a_step_has():
    limits = SandboxLimits(cpu_seconds=100, cpus=2, wall_factor=4)
    assert limits.wall_backstop() == 200 == limits.idle_interval() and limits.wall_ceiling() == 800
    assert limits.model_copy(update={"cpus": 1.0}).wall_backstop() == 400
    assert SandboxLimits(cpu_seconds=100, wall_seconds=7).wall_backstop() == 7
    assert SandboxLimits(wall_seconds=7, idle_seconds=3, ceiling_factor=2).wall_ceiling() == 14
    assert SandboxLimits(wall_seconds=7, idle_seconds=30, ceiling_factor=2).wall_ceiling() == 30


def _run_in_thread(tmp_path, code, **limits):
    import threading

    done = []
    worker = threading.Thread(target=lambda: done.append(run(tmp_path, code, **limits)))
    worker.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return worker, done, int((tmp_path / "pid").read_text())


COMPUTE = ("import os, time\n"
           "open('pid.tmp', 'w').write(str(os.getpid())); os.rename('pid.tmp', 'pid')\n"
           "total = 0\n"
           "while time.process_time() < 0.5: total += 1\n"
           "print('done', total > 0)\n")


def test_a_step_held_stopped_past_the_old_backstop_is_starved_not_stalled_and_finishes(tmp_path):
    import signal

    # wall_seconds 1 was the old fixed backstop: stopped for 3 s, the step would have been killed
    worker, done, pid = _run_in_thread(tmp_path, COMPUTE, wall_seconds=1, ceiling_factor=10, cpu_seconds=20)
    os.kill(pid, signal.SIGSTOP)
    time.sleep(3)
    os.kill(pid, signal.SIGCONT)
    worker.join(timeout=15)
    result, log = done[0]
    assert result.ok and log == "done True\n" and result.seconds > 3


def test_a_step_still_computing_runs_past_the_idle_interval_until_the_ceiling(tmp_path):
    start = time.monotonic()
    result, log = run(tmp_path, "while True: pass", wall_seconds=0.5, ceiling_factor=4, cpu_seconds=60)
    assert result.timed_out and result.limit == "wall" and 2 <= time.monotonic() - start < 10
    assert result.cpu_seconds > 0 and "[grader] stopped at the wall-clock ceiling of 2 s" in log
    assert result.describe().startswith("stopped at the wall-clock ceiling of 2 s (")


def test_a_step_gaining_cpu_slowly_or_waiting_for_a_core_is_never_idle(tmp_path):
    """supervise alone, with the measures faked: CPU that grows now and then, a thread runnable."""
    import subprocess

    from grader.sandbox.base import Reading, supervise

    limits = SandboxLimits(wall_seconds=0.4, ceiling_factor=4, cpu_seconds=60)
    req = RunRequest(argv=[], workspace=tmp_path, log_path=tmp_path / "log.txt", limits=limits)
    for cpu, held, want in [(lambda t: int(t / 0.3) * 0.01, lambda: False, "wall"),  # starved: 10 ms now and then
                            (lambda t: 0.0, lambda: True, "wall"),  # a thread waiting for a core all along
                            (lambda t: 0.0, lambda: False, "idle")]:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE)
        start = time.monotonic()
        with open(tmp_path / "log.txt", "wb") as log:
            watch = supervise(proc, req, log, stop=lambda _, proc=proc: proc.kill(),
                              measure=lambda cpu=cpu, start=start, held=held: Reading(cpu(time.monotonic() - start),
                                                                                      held=held))
        assert watch.limit == want, (want, watch)
        assert (time.monotonic() - start >= 1.6) == (want == "wall")


def test_each_poll_follows_the_step_s_process_tree_once_for_cpu_memory_and_held(tmp_path, monkeypatch):
    """One walk of the tree a poll serves the CPU limit, the memory peak and, once the step's CPU
    time stood still for the idle interval, whether it is held."""
    from grader.sandbox import base, cpu

    polls, walks = [], []
    wait, tree = base._wait_a_while, cpu.process_tree
    monkeypatch.setattr(base, "_wait_a_while", lambda proc: (ended := wait(proc)) or polls.append(1) or ended)
    monkeypatch.setattr(cpu, "process_tree", lambda roots: walks.append(1) or tree(roots))
    result, _ = run(tmp_path, "import time; time.sleep(60)", idle_seconds=1)
    assert result.limit == "idle" and result.memory_peak_mb and result.cpu_seconds is not None
    assert len(polls) >= 4 and len(walks) == len(polls), (len(walks), len(polls))


def test_a_link_planted_where_the_log_goes_is_replaced_not_followed(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("host file\n")
    (tmp_path / "log.txt").symlink_to(outside)
    result, log = run(tmp_path, "print('hello')")
    assert result.ok and log == "hello\n" and outside.read_text() == "host file\n"
    assert not (tmp_path / "log.txt").is_symlink()


def test_cancel_all_kills_running_commands_and_refuses_new_ones(tmp_path):
    import threading

    sandbox = LocalSandbox()
    results = []
    req = RunRequest(argv=[sys.executable, "-c", "import time; time.sleep(60)"], workspace=tmp_path,
                     log_path=tmp_path / "a.txt", limits=SandboxLimits(wall_seconds=60))
    worker = threading.Thread(target=lambda: results.append(sandbox.run(req)))
    start = time.monotonic()
    worker.start()
    time.sleep(1)
    sandbox.cancel_all()
    worker.join(timeout=10)
    assert results and results[0].error == "cancelled: the grader is stopping" and time.monotonic() - start < 8
    later = sandbox.run(RunRequest(argv=[sys.executable, "-c", "open('ran', 'w')"], workspace=tmp_path,
                                  log_path=tmp_path / "b.txt", limits=SandboxLimits()))
    assert later.error == "cancelled: the grader is stopping" and not (tmp_path / "ran").exists()


def test_a_file_past_the_workspace_size_cannot_be_written(tmp_path):
    result, log = run(tmp_path, "f = open('big', 'wb')\nf.truncate(3 * 1024 * 1024)\n", workspace_mb=1)
    assert not result.ok and "File too large" in log


def test_children_left_behind_are_killed_after_a_normal_exit(tmp_path):
    code = ("import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "open('child.pid', 'w').write(str(child.pid))\n")
    result, _ = run(tmp_path, code)
    assert result.ok
    time.sleep(0.2)
    assert not alive(int((tmp_path / "child.pid").read_text()))


def test_output_flood_is_capped_with_a_note(tmp_path):
    result, log = run(tmp_path, "import sys\nfor _ in range(200000): sys.stdout.write('x' * 100 + '\\n')\n"
                                "print('Summary: {}')",
                      output_bytes=10_000)
    assert result.ok and result.output_truncated
    assert len(log.encode()) < 10_200 and log.endswith("[grader] output truncated after 10000 bytes\n")


def test_stdin_is_closed(tmp_path):
    start = time.monotonic()
    result, log = run(tmp_path, "import sys\nprint(repr(sys.stdin.read()))\ninput('press enter: ')")
    assert not result.ok and "''" in log and "EOFError" in log and time.monotonic() - start < 10


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("TA_SECRET_TOKEN", "hunter2")
    result, log = run(tmp_path, "import os\nprint(sorted(os.environ))\nprint(os.environ['HOME'])")
    assert result.ok and "TA_SECRET_TOKEN" not in log and str(tmp_path) in log


def test_memory_limit(tmp_path):
    result, log = run(tmp_path, "x = bytearray(2_000_000_000)\nprint('allocated')", memory_mb=500)
    assert not result.ok and "MemoryError" in log and "allocated" not in log


def test_exit_code_and_missing_program(tmp_path):
    result, _ = run(tmp_path, "raise SystemExit(3)")
    assert result.exit_code == 3 and result.describe() == "exit code 3"
    req = RunRequest(argv=["/nonexistent/python"], workspace=tmp_path, log_path=tmp_path / "l.txt",
                     limits=SandboxLimits())
    missing = LocalSandbox().run(req)
    assert not missing.ok and "could not start /nonexistent/python" in missing.describe()


def test_auto_backend_falls_back_to_local_with_a_notice(monkeypatch):
    from grader.sandbox import docker, make_sandbox

    monkeypatch.setattr(docker, "daemon_answers", lambda: False)
    notices = []
    sandbox = make_sandbox("auto", notice=notices.append)
    assert isinstance(sandbox, LocalSandbox)
    assert notices == ["notice: no Docker daemon answers; running submissions with the local backend, "
                       "which is not a security boundary"]


def test_docker_backend_without_a_daemon_is_a_clear_error(monkeypatch):
    import pytest

    from grader.errors import GraderError
    from grader.sandbox import docker, make_sandbox

    monkeypatch.setattr(docker, "daemon_answers", lambda: False)
    with pytest.raises(GraderError, match="the Docker daemon does not answer"):
        make_sandbox("docker")


def test_memory_is_lowered_to_fit_the_host_for_the_jobs_or_refused():
    import pytest

    from grader.batch.host import fit_memory
    from grader.errors import SpecError

    limits = SandboxLimits(memory_mb=16384)
    same, note = fit_memory(limits, jobs=1, host_mb=24576)
    assert same.memory_mb == 16384 and note is None
    lowered, note = fit_memory(limits, jobs=2, host_mb=24576)
    assert lowered.memory_mb == (24576 - 2048) // 2 and note == (
        "notice: memory per submission lowered from 16384 MB to 11264 MB so that --jobs 2 fits this host's 24576 MB")
    with pytest.raises(SpecError, match="--jobs 64 leaves 352 MB of this host's 24576 MB per submission"):
        fit_memory(limits, jobs=64, host_mb=24576)


THREADED = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"}
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "GOMP_SPINCOUNT": "0"}


def test_step_environment_sizes_thread_pools_to_the_cores_and_never_spins():
    from grader.sandbox.base import step_environment

    env = step_environment(SandboxLimits(cpus=3.5))
    assert {key: env[key] for key in THREADED} == dict.fromkeys(THREADED, "3")
    assert {key: env[key] for key in PASSIVE} == PASSIVE
    assert step_environment(SandboxLimits(cpus=0.5))["OMP_NUM_THREADS"] == "1"


def test_both_backends_give_a_step_the_one_environment(tmp_path):
    import json

    from grader.sandbox import docker
    from grader.sandbox.base import step_environment

    limits = SandboxLimits(cpus=1, wall_seconds=20)
    want = step_environment(limits)
    result, log = run(tmp_path, "import json, os\nprint(json.dumps(dict(os.environ)))", cpus=1)
    seen = json.loads(log)
    assert result.ok and {key: seen[key] for key in want} == want and seen["OMP_NUM_THREADS"] == "1"
    sandbox = object.__new__(docker.DockerSandbox)  # the argv only: no daemon needed
    sandbox.image, sandbox.labels = "image", {}
    argv = sandbox.docker_argv(RunRequest(argv=["python3"], workspace=tmp_path, log_path=tmp_path / "l.txt",
                                          limits=limits), "x")
    passed = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "-e")
    assert {key: passed[key] for key in want} == want


# Written, so resident, and held for a second: the local backend samples the tree's memory at each
# poll (0.2 s), so a spike shorter than that may be missed.
ALLOCATE_200MB = "x = bytearray(b'\\x01') * (200 * 2**20); import time; time.sleep(1)"


def test_peak_memory_of_a_step_is_reported(tmp_path):
    """The peak resident memory of a step, sampled from its process tree: a trivial step's is
    small whatever the grader's own size (a forked child's ru_maxrss would count the grader's
    pages), the process's own, and a child's that it started and waited for."""
    small, _ = run(tmp_path, "print('hi')")
    # (a step that ends before the first poll has no sample: None, never the grader's own size)
    assert small.ok and (small.memory_peak_mb is None or small.memory_peak_mb < 150)
    big, _ = run(tmp_path, ALLOCATE_200MB)
    assert big.ok and big.memory_peak_mb > 200
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {ALLOCATE_200MB!r}], check=True)"
    tree, _ = run(tmp_path, child)
    assert tree.ok and tree.memory_peak_mb > 200


def test_peak_memory_of_processes_running_together_is_their_sum(tmp_path):
    """Two children holding 120 MB each at the same time: the sampled tree holds more than either."""
    hold = "x = bytearray(b'\\x01') * (120 * 2**20); import time; time.sleep(1.5)"
    code = (f"import subprocess, sys; ps = [subprocess.Popen([sys.executable, '-c', {hold!r}]) for _ in range(2)]; "
            "[p.wait() for p in ps]")
    result, _ = run(tmp_path, code)
    assert result.ok and result.memory_peak_mb > 220
