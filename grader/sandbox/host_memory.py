"""The host's memory, and the one budget every grader on the host shares.

Each container gets a memory limit, but twelve graders (or Dask workers) on one host each fitting
their limits to the whole host add up to many times its memory: the host's own OOM killer then
fires, after the machine stalls, and may kill anything. So before a container starts, its limit
is reserved from a host-wide ledger (a folder of small files under a lock, shared by every
grader process on the host); a reservation that does not fit waits until others are released.
The sum of the running containers' limits therefore never exceeds the budget, and a submission
over its own limit is its own (graded) out-of-memory kill, never the host's.

A reservation belongs to a live process: entries of processes that died (killed graders) are
dropped the next time anyone looks, so a crash never leaks memory from the budget."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HOST_RESERVE_MB = 2048  # left to the grader, dockerd and the page cache
BUDGET_ENV = "GRADER_HOST_MEMORY_MB"  # the budget in MB, instead of host memory less the reserve
LEDGER_ENV = "GRADER_MEMORY_LEDGER"  # the ledger's folder (every grader on the host must agree)
POLL_SECONDS = 0.5


def host_memory_mb() -> int:
    """The host's physical memory in MB; 0 when it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0


def budget_mb() -> int:
    """MB that the containers of every grader on this host may hold at once; 0: no budget known."""
    if os.environ.get(BUDGET_ENV, "").strip():
        return max(0, int(os.environ[BUDGET_ENV]))
    host = host_memory_mb()
    return max(0, host - HOST_RESERVE_MB) if host else 0


def ledger_folder() -> Path:
    if os.environ.get(LEDGER_ENV):
        return Path(os.environ[LEDGER_ENV])
    shm = Path("/dev/shm")  # cleared at boot, like the containers the entries stand for
    return (shm if shm.is_dir() else Path(tempfile.gettempdir())) / "grader-memory-ledger"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _entries(folder: Path) -> dict[Path, int]:
    """Live reservations: entry file -> MB. Entries of dead processes are removed."""
    live: dict[Path, int] = {}
    for path in folder.glob("*.mb"):
        try:
            pid = int(path.name.split("-", 1)[0])
            mb = int(path.read_text().strip() or 0)
        except (ValueError, OSError):
            continue
        if _alive(pid):
            live[path] = mb
        else:
            path.unlink(missing_ok=True)
    return live


def in_use_mb(folder: Path | None = None) -> int:
    folder = folder or ledger_folder()
    if not folder.is_dir():
        return 0
    return sum(_entries(folder).values())


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o1777)
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _try_reserve(folder: Path, mb: int, budget: int) -> Path | None:
    with _locked(folder):
        entries = _entries(folder)
        used = sum(entries.values())
        # A request larger than the whole budget still runs alone, so nothing waits forever.
        if entries and used + mb > budget:
            return None
        entry = folder / f"{os.getpid()}-{uuid.uuid4().hex}.mb"
        entry.write_text(str(mb))
        return entry


@contextmanager
def reservation(mb: int, *, cancelled: Callable[[], bool] = lambda: False,
                on_wait: Callable[[int, int], None] | None = None) -> Iterator[bool]:
    """Hold `mb` of the host's budget while the block runs; waits while it does not fit. Yields
    False (and holds nothing) when `cancelled()` turned true while waiting. `on_wait(used,
    budget)` is called once, when a wait starts."""
    budget = budget_mb()
    if not budget:
        yield True
        return
    folder = ledger_folder()
    entry = _try_reserve(folder, mb, budget)
    if entry is None and on_wait:
        on_wait(in_use_mb(folder), budget)
    while entry is None:
        if cancelled():
            yield False
            return
        time.sleep(POLL_SECONDS)
        entry = _try_reserve(folder, mb, budget)
    try:
        yield True
    finally:
        entry.unlink(missing_ok=True)
