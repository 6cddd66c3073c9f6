"""A preloaded interpreter for the local backend: it imports the modules a course's own
processes use (torch, torchvision, ...) once, then forks a child for every command it is asked to
run. The child becomes that command (`python SCRIPT ARGS` or `python -m MODULE ARGS`) without
importing them again: a trusted scoring step or the hidden tests of a submission start in
milliseconds instead of the 1.3-3.5 s a fresh interpreter spends importing torch.

    python -m grader.inside.warm_start NAME [MODULE ...]   (NAME: its abstract Unix socket)

It runs beside student code (the hidden tests' children run it), so nothing student code
controls reaches the server: the modules are the course's (named by the grader from the course's
own files), a child is a copy that cannot change the server's memory, and a request is taken only
from the grader's own account (the socket's peer credentials). The child runs in a
session of its own, under the request's resource limits and account, in the request's folder
and environment, its output into the log's pipe passed with the request; the server reports its
pid and, once it ended, its exit status (as subprocess reports it: -N for signal N) and its peak
resident memory (wait4's ru_maxrss: the server's pages count once the child touches them; library
file pages it never reads do not, so it is below a fresh interpreter's figure).

The server is single-threaded (a fork copies only the calling thread: no lock can be held by a
thread that is not there), and it ends when the grader that started it does."""

from __future__ import annotations

import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import traceback
import weakref

from grader.inside.quick_exit import exit_status, quick_exit

HEADER = 8  # a request: its length in 8 bytes, big-endian, then JSON, the log's pipe passed with it
READY = b"ready\n"


def preload(modules: list[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a module that does not import is simply not preloaded
            print(f"[warm start] {name} not preloaded: {type(exc).__name__}: {exc}", file=sys.stderr)


def _from_own_account(conn: socket.socket) -> bool:
    """Whether the peer runs as this server's account (the grader): a command forked here may
    run as it, so no other account (a student's, under GRADER_RUN_AS) may ask for one."""
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid == os.getuid()


def receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    """One request and the file descriptor sent with it; None for a malformed one."""
    conn.settimeout(10)
    try:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
        if len(data) < HEADER:
            return None
        size = int.from_bytes(data[:HEADER], "big")
        while len(data) < HEADER + size:
            chunk = conn.recv(1 << 16)
            if not chunk:
                return None
            data += chunk
        return json.loads(data[HEADER:HEADER + size]), fds
    except (OSError, ValueError):
        return None


def serve(path: str) -> tuple[dict, int, int, int | None] | None:
    """Answer requests until the grader ends. Returns, in a forked child only, its request, the
    log's descriptor, the sync pipe and the report pipe (a request with `report`: a command of
    the course's own code, no student's, whose imports the server learns); the server itself
    never returns."""
    grader = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + path)  # abstract: nothing on disk
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD writes to the wakeup pipe
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "request")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    children: dict[int, socket.socket] = {}
    reports: dict[int, int] = {}  # pid -> the pipe a child of the course's own code names its imports on
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # nothing a module prints while it is learned can fill the grader's pipe
    os.close(null)
    while os.getppid() == grader:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "request":
                conn, _ = listener.accept()
                received = receive(conn) if _from_own_account(conn) else None
                if received is None or len(received[1]) != 1:
                    for fd in received[1] if received else ():
                        os.close(fd)
                    conn.close()
                    continue
                request, (log_fd,) = received
                sync_read, sync_write = os.pipe()
                report_read, report_write = os.pipe() if request.get("report") else (None, None)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for fd in (wake_read, wake_write, sync_read, report_read, *reports.values()):
                        if fd is not None:
                            os.close(fd)
                    for other in children.values():
                        other.close()
                    conn.close()
                    return request, log_fd, sync_write, report_write
                os.close(log_fd)
                os.close(sync_write)
                if report_write is not None:
                    os.close(report_write)
                    reports[pid] = report_read
                os.read(sync_read, 1)  # the child is in its own session: the grader may kill its group
                os.close(sync_read)
                try:
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                except OSError:
                    pass
                children[pid] = conn
            else:
                try:
                    while os.read(wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
                _reap(children, reports)
    sys.exit(0)


def _reap(children: dict[int, socket.socket], reports: dict[int, int]) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in reports:
            learn(reports.pop(pid))
        conn = children.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(json.dumps({"status": os.waitstatus_to_exitcode(status),
                                         "maxrss_kib": usage.ru_maxrss}).encode() + b"\n")
            except OSError:
                pass
            conn.close()


def learn(fd: int) -> None:
    """Import what a child running the course's own code imported after it started (torch's
    lazy imports: `torch.use_deterministic_algorithms` brings in torch._inductor.config, 1.4 s;
    `torch.export.load` torch.export._trace): the next children have them too."""
    data = b""
    try:
        os.set_blocking(fd, False)
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    except OSError:
        pass
    finally:
        os.close(fd)
    try:
        names = json.loads(data) if data else []
    except ValueError:
        return
    if isinstance(names, list):
        preload([name for name in names if isinstance(name, str) and name not in sys.modules])


def _installed(module) -> bool:
    """A module of the interpreter's own installation (the standard library, site-packages):
    never one of a workspace or of the grader's source checkout."""
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    return bool(origin) and origin.startswith(INSTALLED)


INSTALLED = tuple({os.path.join(prefix, "lib") + os.sep for prefix in (sys.prefix, sys.base_prefix)})


def _report_imports(fd: int) -> None:
    """At the child's exit: the installed modules it imported that the server does not hold."""
    before = set(sys.modules)

    def report() -> None:
        names = sorted(name for name, module in list(sys.modules.items())
                       if name not in before and module is not None and _installed(module))
        try:
            os.write(fd, json.dumps(names).encode()[: 1 << 16])
        except OSError:
            pass

    import atexit

    atexit.register(report)


def become(request: dict, log_fd: int, sync_fd: int, report_fd: int | None) -> None:
    """In the forked child: the command's session, output, limits, account, folder and
    environment, then its code as __main__. Ends the process with the status the command's own
    interpreter would give (SystemExit's, or 1 after a traceback of the command's frames)."""
    os.setsid()
    os.write(sync_fd, b"1")
    os.close(sync_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    import resource

    for name, soft, hard in request["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if request.get("user"):
        uid, gid = request["user"]
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _fresh_state()
    _track_open()
    if report_fd is not None:
        _report_imports(report_fd)
    args = request["args"]
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(args)
            sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
            runpy.run_path(args[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exit_status(exc.code)
    except BaseException as exc:  # noqa: BLE001 - printed as the command's interpreter prints it
        tb = exc.__traceback__
        while tb is not None and _ours(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        code = 1
    _exit(code)


def _ours(filename: str) -> bool:
    """A frame of this module or of runpy: not the command's, left out of its traceback."""
    return filename in (__file__, runpy.__file__) or filename.startswith("<frozen runpy")


def _exit(code: int) -> None:
    """End as the interpreter's own exit would, less its teardown (grader/inside/quick_exit.py):
    non-daemon threads are waited for, atexit functions run, every file the command left open is
    written out."""
    import threading

    try:
        threading._shutdown()  # what Py_Finalize does first
    except Exception:  # noqa: BLE001 - a thread that fails to join does not keep the process
        pass
    quick_exit(code, list(_OPENED))


_OPENED: weakref.WeakSet = weakref.WeakSet()


def _track_open() -> None:
    """Files the command opens are remembered (weakly), so that one it leaves open is written
    out at its exit, which skips the interpreter's teardown where finalizers would do it."""
    import builtins
    import io

    plain = io.open

    def tracked(*args, **kwargs):
        opened = plain(*args, **kwargs)
        try:
            _OPENED.add(opened)
        except TypeError:
            pass
        return opened

    builtins.open = io.open = tracked


def _fresh_state() -> None:
    """What a fresh interpreter would not share with its siblings: the random generators'
    unseeded state and tempfile's cached folder (TMPDIR is the step's own)."""
    import random
    import tempfile

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    tempfile.tempdir = None


def main() -> None:
    path, modules = sys.argv[1], sys.argv[2:]
    preload(modules)
    served = serve(path)
    if served is not None:
        become(*served)


if __name__ == "__main__":
    main()
