"""Notebooks as submissions: run one headless, cell by cell, and import its function cells.

Runs inside the sandbox, as an experiment's command (`python -m grader.inside.notebook execute ...`):
each cell's printed output goes to stdout as it comes, so the experiment's log holds the
notebook's `Summary: {...}` lines like any script's; the executed notebook is saved after
every cell, so a kill keeps what was done. A cell that raises, a cell over its CPU-time limit
and the total CPU-time limit each stop the run with one line naming the cell and the error;
the wall clock is only a backstop (a cell that hangs without computing).

Convention for course authors: code cells tagged `functions` hold definitions only (imports,
functions, classes, constants). `import_function_cells` builds a module from those cells
alone, so hidden tests call the student's functions without re-running the training.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import nbformat

FUNCTIONS_TAG = "functions"
STOP_PREFIX = "Notebook stopped"


class NotebookError(Exception):
    """A notebook that cannot be read or run; the message names the file."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise NotebookError(f"{path}: file not found") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a broken file
        raise NotebookError(f"{path}: not a readable notebook ({type(exc).__name__}: {str(exc)[:120]})") from None


def cell_label(index: int, cell) -> str:
    first = next((line for line in cell.source.splitlines() if line.strip()), "").strip()
    return f"cell {index + 1} ({first[:50]!r})" if first else f"cell {index + 1}"


def _echo_outputs(cell, start: int) -> None:
    for output in cell.outputs[start:]:
        if output.output_type == "stream":
            (sys.stdout if output.name == "stdout" else sys.stderr).write(output.text)
        elif output.output_type in ("execute_result", "display_data") and "text/plain" in output.get("data", {}):
            sys.stdout.write(output["data"]["text/plain"] + "\n")
    sys.stdout.flush()
    sys.stderr.flush()


def _sandbox_friendly_environment() -> None:
    """Kernels write runtime files under $HOME; the sandbox's root is read-only."""
    scratch = Path(tempfile.gettempdir())
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", str(scratch / "jupyter-runtime"))
    os.environ.setdefault("IPYTHONDIR", str(scratch / "ipython"))
    os.environ.setdefault("MPLCONFIGDIR", str(scratch / "matplotlib"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"


WALL_FACTOR = 10.0  # wall-clock backstop of a cell (and of the whole run) = its CPU-time limit x this
POLL_SECONDS = 0.2
INTERRUPT_GRACE_SECONDS = 5.0


class CpuWatchdog:
    """Holds one cell to its CPU-time budget: polls the CPU time of the kernel and the
    processes it started, interrupts the kernel when the budget is spent (and kills it when an
    interrupt does not end the cell within a few seconds)."""

    def __init__(self, kernel_pid: int | None, budget: float):
        from grader.inside.cpu_time import tree_cpu_seconds

        self._measure = (lambda: tree_cpu_seconds(kernel_pid)) if kernel_pid else (lambda: 0.0)
        self.kernel_pid = kernel_pid
        self.budget = budget
        self.start = self._measure()
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def used(self) -> float:
        return self._measure() - self.start

    def _watch(self) -> None:
        if not self.kernel_pid:
            return
        while not self._done.wait(POLL_SECONDS):
            if self.used() > self.budget:
                self.fired = True
                _signal(self.kernel_pid, signal.SIGINT)
                if not self._done.wait(INTERRUPT_GRACE_SECONDS):
                    _signal(self.kernel_pid, signal.SIGKILL)
                return

    def stop(self) -> float:
        self._done.set()
        self._thread.join(timeout=INTERRUPT_GRACE_SECONDS + 1)
        return self.used()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kernel_pid(client) -> int | None:
    provisioner = getattr(client.km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    return getattr(process, "pid", None) or getattr(provisioner, "pid", None)


def execute(path: Path, output: Path, cell_timeout: float, total_timeout: float,
            wall_factor: float = WALL_FACTOR) -> int:
    """Run every code cell in order. Limits are CPU seconds of the kernel and what it starts
    (the same on a busy machine as on an idle one); the wall clock, `wall_factor` times as
    long, is only a backstop. Returns 0 when all ran, 1 when a cell raised, STEP_LIMIT_EXIT when
    a CPU-time limit stopped the run, STEP_BACKSTOP_EXIT when only the wall-clock backstop did
    (the grader then runs the notebook once more)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from grader.inside.exit_codes import STEP_BACKSTOP_EXIT, STEP_LIMIT_EXIT

    _sandbox_friendly_environment()
    nb = read_notebook(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    # The kernel is killed once the cells have run (their outputs are in by then): a graceful
    # shutdown only runs its interpreter's teardown, and with torch's CUDA build that pages in
    # about 125 MB of CUDA libraries, often the kernel's peak resident memory.
    client = NotebookClient(nb, kernel_name="python3", timeout=int(cell_timeout * wall_factor) + 1, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent.resolve())}}, shutdown_kernel="immediate")
    wall_deadline = time.monotonic() + total_timeout * wall_factor
    stopped, code, cpu_total = None, 1, 0.0
    kernel_log = output.with_suffix(".kernel.log")  # the kernel's own chatter, kept out of the experiment log
    with open(kernel_log, "w") as chatter, client.setup_kernel(stdout=chatter, stderr=chatter):
        kernel_pid = _kernel_pid(client)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            label = cell_label(index, cell)
            if cpu_total >= total_timeout:
                stopped = f"the total CPU-time limit of {total_timeout:g} s was used up before {label}"
                code = STEP_LIMIT_EXIT
                break
            if time.monotonic() > wall_deadline:
                stopped = (f"the total wall-clock backstop of {total_timeout * wall_factor:g} s "
                           f"was reached before {label}")
                code = STEP_BACKSTOP_EXIT
                break
            budget = min(cell_timeout, total_timeout - cpu_total)
            which = "its CPU-time limit" if budget == cell_timeout else "the rest of the total CPU-time limit"
            client.timeout = max(1, int(min(budget * wall_factor, wall_deadline - time.monotonic()) + 0.999))
            watchdog = CpuWatchdog(kernel_pid, budget)
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                stopped, code = f"{label} ran past its wall-clock backstop of {client.timeout} s", STEP_BACKSTOP_EXIT
            except (CellExecutionError, DeadKernelError) as exc:
                if watchdog.fired:
                    stopped, code = f"{label} used more than {which} ({budget:g} s of CPU)", STEP_LIMIT_EXIT
                elif isinstance(exc, DeadKernelError):
                    stopped = f"the kernel died in {label} (out of memory?)"
                else:
                    stopped = f"{label} raised {exc.ename}: {str(exc.evalue)[:200]}"
            finally:
                cpu_total += watchdog.stop()
                _echo_outputs(cell, 0)
                nbformat.write(nb, str(output))
            if stopped:
                break
    nbformat.write(nb, str(output))
    if stopped:
        print(f"{STOP_PREFIX}: {stopped}", file=sys.stderr, flush=True)
        return code
    return 0


def function_cells_source(nb: nbformat.NotebookNode, tag: str = FUNCTIONS_TAG) -> str:
    cells = [c.source for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    # IPython magics and shell escapes mean nothing outside a kernel
    lines = [line for src in cells for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines) + "\n"


def import_function_cells(path: str | Path, name: str = "notebook_functions",
                          tag: str = FUNCTIONS_TAG) -> types.ModuleType:
    """A module made of the notebook's cells tagged `tag`: its functions and classes, no training."""
    path = Path(path)
    source = function_cells_source(read_notebook(path), tag)
    if not source.strip():
        raise NotebookError(f"{path}: no code cell is tagged {tag!r}")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    exec(compile(source, f"{path}[{tag} cells]", "exec"), module.__dict__)  # student code, in the sandbox
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.inside.notebook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("execute", help="run a notebook headless, cell by cell")
    run.add_argument("notebook", type=Path)
    run.add_argument("--output", type=Path, required=True,
                     help="where the executed notebook is saved (after every cell)")
    run.add_argument("--cell-timeout", type=float, default=600,
                     help="CPU seconds one cell may use, the kernel and its workers together (default 600)")
    run.add_argument("--timeout", type=float, default=1800, help="CPU seconds for the whole notebook (default 1800)")
    run.add_argument("--wall-factor", type=float, default=WALL_FACTOR,
                     help=f"wall-clock backstop of a cell or the run = its CPU limit x this (default {WALL_FACTOR:g})")
    args = parser.parse_args(argv)
    try:
        return execute(args.notebook, args.output, args.cell_timeout, args.timeout, args.wall_factor)
    except NotebookError as exc:
        print(f"{STOP_PREFIX}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
