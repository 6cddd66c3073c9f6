"""The local backend's preloaded interpreters: a command the grader runs for itself (a trusted
step, the hidden tests) forked from one behaves as the same command in a fresh interpreter."""

import os
import sys
import time

import pytest

from grader.course.spec import SandboxLimits
from grader.sandbox import LocalSandbox, RunRequest, warm


@pytest.fixture(autouse=True)
def warm_on(monkeypatch):
    monkeypatch.setenv(warm.SWITCH_ENV, "1")
    yield
    warm.POOL.stop_all()


def run(tmp_path, source, args=(), preload=(), course_code_only=False, name="step.py", **limits):
    (tmp_path / name).write_text(source)
    log = tmp_path / "log.txt"
    req = RunRequest(argv=[sys.executable, name, *args], workspace=tmp_path, log_path=log,
                     limits=SandboxLimits(**{"wall_seconds": 30, **limits}), env={"GRADER_SEED": "7"},
                     preload=preload, course_code_only=course_code_only)
    result = LocalSandbox().run(req)
    return result, log.read_text(errors="replace")


PROBE = """import os, sys, resource
print("argv", sys.argv)
print("cwd", os.getcwd())
print("seed", os.environ.get("GRADER_SEED"), "home", os.environ["HOME"] == os.getcwd())
print("path0", sys.path[0] == os.getcwd())
print("name", __name__)
print("parent_is_grader", os.getppid() == int(sys.argv[1]))
print("cpu", resource.getrlimit(resource.RLIMIT_CPU))
print("preloaded", "json" in sys.modules and "decimal" in sys.modules)
print("session", os.getsid(0) == os.getpid())
"""


def test_a_forked_command_sees_what_a_fresh_one_sees(tmp_path):
    fresh, fresh_log = run(tmp_path, PROBE, [str(os.getpid())], preload=None)
    forked, forked_log = run(tmp_path, PROBE, [str(os.getpid())], preload=("decimal", "json"))
    assert fresh.ok and forked.ok
    assert "parent_is_grader True" in fresh_log and "parent_is_grader False" in forked_log
    assert "preloaded True" in forked_log
    same = [line for line in fresh_log.splitlines() if not line.startswith(("parent_is_grader", "preloaded"))]
    assert same == [line for line in forked_log.splitlines()
                    if not line.startswith(("parent_is_grader", "preloaded"))]
    assert f"argv ['step.py', '{os.getpid()}']" in forked_log and "name __main__" in forked_log
    cpu = SandboxLimits(wall_seconds=30).cpu_seconds
    assert "session True" in forked_log and f"cpu ({cpu + 5}, {cpu + 10})" in forked_log


def test_a_module_run_with_dash_m_is_main_and_finds_the_workspace(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    (tmp_path / "tool.py").write_text("import helper, sys\nprint('main', __name__, helper.VALUE, sys.argv[1:])\n")
    req = RunRequest(argv=[sys.executable, "-m", "tool", "x"], workspace=tmp_path, log_path=tmp_path / "log.txt",
                     limits=SandboxLimits(wall_seconds=30), preload=())
    result = LocalSandbox().run(req)
    assert result.ok and "main __main__ 42 ['x']" in (tmp_path / "log.txt").read_text()


@pytest.mark.parametrize(("ending", "code", "printed"), [
    ("sys.exit(3)", 3, ""),
    ("sys.exit('bad input: x.csv')", 1, "bad input: x.csv"),
    ("raise ValueError('broken')", 1, 'step.py", line 2, in <module>'),
    ("pass", 0, ""),
])
def test_exit_statuses_and_tracebacks_are_the_commands_own(tmp_path, ending, code, printed):
    result, log = run(tmp_path, f"import sys\n{ending}\n", preload=())
    assert result.exit_code == code
    assert printed in log
    assert "warm_start" not in log and "runpy" not in log  # the traceback starts at the command's frames


def test_a_file_left_open_and_a_running_thread_are_finished_at_exit(tmp_path):
    source = ("import threading, time\n"
              "f = open('out.txt', 'w')\nf.write('kept')\n"
              "def late():\n    time.sleep(0.5)\n    open('thread.txt', 'w').write('done')\n"
              "threading.Thread(target=late).start()\n")
    result, _ = run(tmp_path, source, preload=())
    assert result.ok
    assert (tmp_path / "out.txt").read_text() == "kept" and (tmp_path / "thread.txt").read_text() == "done"


def test_siblings_do_not_share_an_unseeded_random_state(tmp_path):
    source = "import random\nprint(random.random())\n"
    first = run(tmp_path, source, preload=("random",))[1]
    second = run(tmp_path, source, preload=("random",))[1]
    assert first != second


def test_a_sleeping_forked_command_is_stopped_with_its_children(tmp_path):
    source = ("import subprocess, sys, time\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              "open('child.pid', 'w').write(str(child.pid))\nprint('started', flush=True)\ntime.sleep(600)\n")
    start = time.monotonic()
    result, log = run(tmp_path, source, preload=(), idle_seconds=2)
    assert result.timed_out and result.limit == "idle" and time.monotonic() - start < 15
    assert "started" in log
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)


def test_cpu_time_of_a_forked_command_is_measured_and_counted_for_benchmarks(tmp_path):
    """The step's CPU time (its limit), and the pool's total: a forked command is the preloaded
    interpreter's child, which RUSAGE_CHILDREN of the grader does not see."""
    before = warm.POOL.cpu_seconds()
    result, _ = run(tmp_path, "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n",
                    preload=())
    assert result.ok and result.cpu_seconds is not None and result.cpu_seconds >= 0.4
    assert warm.POOL.cpu_seconds() - before >= 0.5


def test_imports_are_learned_from_the_courses_own_code_only(tmp_path):
    learn = "import sys\nimport xml.dom.minidom\nprint('seen', 'xml.dom.minidom' in sys.modules)\n"
    probe = "import sys\nprint('held', 'xml.dom.minidom' in sys.modules, 'colorsys' in sys.modules)\n"
    assert run(tmp_path, "import colorsys\n", preload=("json",))[0].ok  # a student's command: not learned
    assert "held False False" in run(tmp_path, probe, preload=("json",))[1]
    assert run(tmp_path, learn, preload=("json",), course_code_only=True)[0].ok
    time.sleep(0.5)  # learned once the server reaped it
    assert "held True False" in run(tmp_path, probe, preload=("json",))[1]


def test_commands_start_fresh_when_switched_off_or_not_plain(tmp_path, monkeypatch):
    probe = PROBE.replace("print(\"argv\", sys.argv)\n", "")
    assert "parent_is_grader False" in run(tmp_path, probe, [str(os.getpid())], preload=())[1]
    monkeypatch.setenv(warm.SWITCH_ENV, "0")
    assert "parent_is_grader True" in run(tmp_path, probe, [str(os.getpid())], preload=())[1]
    assert warm.warm_args([sys.executable, "-X", "importtime", "a.py"], sys.executable) is None
    assert warm.warm_args(["/other/python", "a.py"], sys.executable) is None
    assert warm.warm_args([sys.executable, "-m", "grader.inside.runner_kit", "o.json"], sys.executable) == [
        "-m", "grader.inside.runner_kit", "o.json"]


def test_an_interpreter_that_cannot_start_leaves_the_command_to_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setattr(warm, "WarmInterpreter", _refuses)
    result, log = run(tmp_path, PROBE, [str(os.getpid())], preload=("json",))
    assert result.ok and "parent_is_grader True" in log


def _refuses(*_args):
    raise warm.WarmStartError("no")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_peak_memory_of_a_short_forked_command_is_its_own_exact_peak(tmp_path):
    result, _ = run(tmp_path, "block = bytearray(200 * 2**20)\nfor i in range(0, len(block), 4096): block[i] = 1\n",
                    preload=())
    assert result.ok and 200 <= result.memory_peak_mb < 400


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another account")
def test_another_account_cannot_have_a_command_forked(tmp_path):
    """A student account (GRADER_RUN_AS) that finds the interpreter's socket gets nothing from it:
    a command forked there would run as the grader's account."""
    import subprocess

    interpreter = warm.POOL.get(sys.executable, {}, ())
    interpreter.release()
    target = tmp_path / "made_by_root"
    client = f"""
import json, os, socket
os.setgid(65534)
os.setuid(65534)
request = json.dumps({{"args": ["{tmp_path}/evil.py"], "cwd": "/", "env": {{}}, "rlimits": [], "user": None}}).encode()
r, w = os.pipe()
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect({interpreter.address!r})
socket.send_fds(conn, [len(request).to_bytes(8, "big") + request], [w])
try:
    print("answer", conn.recv(100))
except ConnectionResetError:
    print("answer b''")
"""
    (tmp_path / "evil.py").write_text(f"open({str(target)!r}, 'w').write('root')\n")
    os.chmod(tmp_path, 0o755)
    done = subprocess.run([sys.executable, "-c", client], capture_output=True, text=True, timeout=30)
    assert "answer b''" in done.stdout, done.stdout + done.stderr
    time.sleep(0.5)
    assert not target.exists()
