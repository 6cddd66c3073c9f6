"""Step 2, workspace: a fresh folder per submission holding the pristine skeleton with the
student's editable files laid over it. Nothing from solutions/ or the hidden tests is copied
here; the hidden-test step brings the runner files in only when it runs them."""

from __future__ import annotations

import filecmp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.safe_fs import TreeTooLarge, open_new, remove_tree, walk
from grader.steps.fail_fast import Broken, broken_files, notebook_stops
from grader.steps.intake import Submission
from grader.steps.janitor import ENTRY, is_private_folder, remove_if_empty

MISSING_REQUIRED = "missing required files: "
EDITED_GIVEN = "given notebook cells were edited: "


def without_missing_logs(warnings: list[str], logs: set[str]) -> list[str]:
    """The warnings with the logs taken out of "missing required files": a missing log has its
    item, which says to run the experiments (and an example submission holds no logs at all);
    only the other missing files (the student's own code) stay in the warning."""
    kept = []
    for warning in warnings:
        if warning.startswith(MISSING_REQUIRED):
            others = [f for f in warning.removeprefix(MISSING_REQUIRED).split(", ") if f not in logs]
            if not others:
                continue
            warning = MISSING_REQUIRED + ", ".join(others)
        kept.append(warning)
    return kept


@dataclass
class Workspace:
    path: Path
    submitted_outputs: dict[str, Path] = field(default_factory=dict)  # e.g. the student's own logs
    trusted_logs: dict[str, Path] = field(default_factory=dict)  # logs of trusted steps, kept outside the workspace
    restored: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # for the report's flags, e.g. edited given notebook cells
    broken: dict[str, Broken] = field(default_factory=dict)  # editable files that do not compile (fail_fast)
    stops: dict[str, Broken] = field(default_factory=dict)  # notebooks certain to stop at such a cell (fail_fast)
    out_of_time: dict[str, str] = field(default_factory=dict)  # editable file -> the step that ran out of time in it


def _find_submitted(submission: Submission | list[str], rel: str) -> str | None:
    """The submitted file for `rel`: at the same path, or (for flat assignments) by name anywhere."""
    files = submission if isinstance(submission, list) else submission.files
    if rel in files:
        return rel
    candidates = [f for f in files if f.rsplit("/", 1)[-1] == rel.rsplit("/", 1)[-1]]
    return candidates[0] if len(candidates) == 1 else None


def graded_files(assignment: Assignment, files: list[str]) -> set[str]:
    """Of a submission's files (relative paths), those grading reads: the editable files, the
    experiments' logs (found as prepare_workspace finds them) and what the rubric asks to be present."""
    wanted = list(assignment.spec.editable) + sorted(assignment.output_files()) + list(assignment.spec.required)
    wanted += [p for item in assignment.rubric.items if (p := getattr(item, "path", None))]
    return {found for rel in wanted if (found := _find_submitted(list(files), rel)) is not None}


def unused_files(assignment: Assignment, files: list[str], path_of, used: set[str]) -> tuple[list[str], list[str]]:
    """The files grading does not read: (given files the student changed, which the pristine
    copies replace; files that are not part of the assignment). The handout's own by-products
    (an ungraded run's log) are neither: they are left out without a word."""
    restored, ignored = [], []
    quiet = assignment.by_products()
    for rel in files:
        if rel in used:
            continue
        pristine = assignment.skeleton_dir / rel
        if pristine.is_file():
            if not filecmp.cmp(pristine, path_of(rel), shallow=False):
                restored.append(rel)
        elif rel not in quiet:
            ignored.append(rel)
    return restored, ignored


COMPILED = shutil.ignore_patterns("__pycache__", "*.pyc")  # never copied from a skeleton: made for another Python


def copy_skeleton(skeleton: Path, dest: Path, ignore=COMPILED) -> None:
    """A fresh copy of a skeleton (trusted files) at `dest`: contents and permission bits, not the
    files' times or extended attributes (shutil's default copy2 reads and sets those too: three
    more system calls a file, for every workspace a submission gets, which nothing reads)."""
    shutil.copytree(skeleton, dest, ignore=ignore, copy_function=shutil.copy)


def prepare_workspace(assignment: Assignment, submission: Submission, dest: Path, move: bool = False) -> Workspace:
    """The skeleton with the submission's editable files in place of its own. `move`: the
    submission's folder is the grading's own copy (open_submission's), so an editable file moves
    from there instead of being copied (making a file is the costly part on some disks)."""
    if dest.exists():
        remove_tree(dest)
    spec = assignment.spec
    given = {rel: found for rel in spec.editable if (found := _find_submitted(submission, rel)) is not None}
    outputs = {found for rel in assignment.output_files() if (found := _find_submitted(submission, rel)) is not None}
    skeleton = assignment.skeleton_dir

    def not_copied(folder: str, names: list[str]) -> set[str]:  # compiled files, and what the submission replaces
        here = Path(folder).relative_to(skeleton)
        return {name for name in names
                if name == "__pycache__" or name.endswith(".pyc") or (here / name).as_posix() in given}

    copy_skeleton(skeleton, dest, ignore=not_copied)
    ws = Workspace(path=dest)
    used: set[str] = set()

    for rel, found in given.items():
        if "/" in rel:  # at the top the folder is dest itself
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if move and found not in outputs and list(given.values()).count(found) == 1:
            try:
                os.replace(submission.path_of(found), dest / rel)
            except OSError:  # another file system: copied
                shutil.copyfile(submission.path_of(found), dest / rel)
        else:
            shutil.copyfile(submission.path_of(found), dest / rel)
        used.add(found)
        if rel.endswith(".ipynb") and (assignment.skeleton_dir / rel).is_file():
            from grader.steps.given_cells import restore_given_cells_in_file  # nbformat only for notebook assignments

            if edited := restore_given_cells_in_file(dest / rel, assignment.skeleton_dir / rel):
                ws.flags.append(f"{EDITED_GIVEN}{rel} {'; '.join(edited)} (restored)")

    for rel in sorted(assignment.output_files()):
        found = _find_submitted(submission, rel)
        if found is not None:
            used.add(found)
            ws.submitted_outputs[rel] = submission.path_of(found)

    for rel in spec.required:
        if _find_submitted(submission, rel) is None:
            ws.missing.append(rel)

    ws.restored, ws.ignored = unused_files(assignment, submission.files, submission.path_of, used)

    if ws.missing:
        ws.warnings.append(MISSING_REQUIRED + ", ".join(ws.missing))
    if ws.restored:
        ws.warnings.append(
            f"protected files were changed and the pristine copies were used instead: {', '.join(ws.restored)}"
            f" (only {', '.join(spec.editable)} may be edited)"
        )
    if ws.ignored:
        shown = ", ".join(ws.ignored[:5]) + (f" and {len(ws.ignored) - 5} more" if len(ws.ignored) > 5 else "")
        ws.warnings.append(f"ignored files that are not part of the assignment: {shown}")
    ws.broken = broken_files(dest, spec.editable)
    ws.stops = notebook_stops(dest, spec.editable, assignment.skeleton_dir)
    return ws


CODE_SUFFIXES = {".py", ".pyc", ".pyo", ".pth", ".so"}
# Files that configure the tools a later, trusted step runs (pytest, Python's start-up, pip,
# Jupyter) without being code of their own: a planted pytest.ini or conftest.py would change
# what the hidden tests do.
CONFIG_SUFFIXES = {".ini", ".cfg", ".toml", ".pth", ".conf", ".rc"}
CONFIG_NAMES = {"conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "setup.py", "pyproject.toml", "sitecustomize.py",
                "usercustomize.py", ".pdbrc", ".pythonrc", ".pythonrc.py", ".coveragerc", "pip.conf",
                "ipython_config.py",
                "jupyter_config.json", "jupyter_notebook_config.json", "jupyter_server_config.json",
                "jupyter_nbconvert_config.json", "ipython_kernel_config.py"}


def _plants_code_or_config(name: str, suffix: str) -> bool:
    return suffix in CODE_SUFFIXES or suffix in CONFIG_SUFFIXES or name in CONFIG_NAMES or name.endswith(".egg-link")


def restore_protected(assignment: Assignment, ws: Workspace) -> None:
    """Before each step: put back every skeleton file a student may not edit, and remove what
    an earlier step left behind that a later one would run or be configured by: code (a
    `torch.py` shadowing a library, an unchecked .pyc standing in for a restored module), tool
    configuration (pytest.ini, conftest.py, setup.cfg, a .pth, sitecustomize.py), links,
    FIFOs, devices and __pycache__ folders. Data a step writes for the next (weights, logs)
    stays. The walk never follows a link and stops at the workspace's limits (an error)."""
    editable = set(assignment.spec.editable)
    expected = assignment.output_files() | {a for e in assignment.spec.experiments for a in e.artifacts}
    pristine: set[str] = set()
    for source in assignment.skeleton_dir.rglob("*"):
        rel = source.relative_to(assignment.skeleton_dir)
        if not source.is_file() or "__pycache__" in rel.parts:
            continue
        pristine.add(rel.as_posix())
        if rel.as_posix() in editable:
            continue
        target = ws.path / rel
        _clear_way(ws.path, rel)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            remove_tree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
        if not target.is_file() or not filecmp.cmp(source, target, shallow=False):
            target.parent.mkdir(parents=True, exist_ok=True)
            with open_new(target) as out:
                out.write(source.read_bytes())
    limits = assignment.spec.limits
    try:
        entries = list(walk(ws.path, max_entries=limits.workspace_files + 1000))
    except TreeTooLarge as exc:
        raise GraderError(f"the workspace holds {exc.strerror}: a step made more than its limits allow") from None
    for entry in reversed(entries):  # children before their folders
        name = entry.rel.rsplit("/", 1)[-1]
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if entry.is_symlink or not (entry.is_dir or entry.is_file):
            os.unlink(entry.path)  # a link, a FIFO, a socket: never followed, never opened
        elif entry.is_dir and name == "__pycache__":
            remove_tree(Path(entry.path))
        elif (entry.is_file and entry.rel not in pristine and entry.rel not in editable and entry.rel not in expected
              and _plants_code_or_config(name, suffix)):
            os.unlink(entry.path)


def _clear_way(root: Path, rel: Path) -> None:
    """A folder on the way to a protected file that a step replaced by a link (or a file) is
    removed, so the restored file lands in the workspace, not where the link points."""
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            current.unlink()


# --- removing a workspace so that a stop midway leaves nothing behind ---------------------------

TRASH_ENV = "GRADER_TRASH"  # where discarded folders go (tests); default: grader-trash-<uid> in the temp folder


_STARTS: dict[int, str] = {}  # pid -> its start time: read once per process (a forked child has its own pid)


def _own_start() -> str:
    from grader.sandbox.docker import _process_start  # the same process identity as the Docker labels

    pid = os.getpid()
    if pid not in _STARTS:
        _STARTS[pid] = _process_start(pid) or ""
    return _STARTS[pid]


def trash_folder(create: bool = True) -> Path | None:
    """The grader's trash: a folder of this user only (not a link, not writable by others), in
    the temp folder where workspaces are made, so a workspace moves there by a rename. None when
    it cannot be had safely (someone else's, a link)."""
    folder = Path(os.environ.get(TRASH_ENV) or Path(tempfile.gettempdir()) / f"grader-trash-{os.getuid()}")
    if create:
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    return folder if is_private_folder(info) else None


# A long-lived worker process (a cluster worker) hands its deletions to a janitor, a process of its
# own at the lowest CPU priority (grader/steps/janitor.py): the rename into the trash is what a
# submission waits for; the deletion is not, and in the worker (a thread, before) it took CPU and
# the interpreter lock when a round of submissions ended together and the next were being set up.
_JANITOR: subprocess.Popen | None = None
_JANITOR_LOCK = threading.Lock()
# The janitor removes the emptied trash only once no deletion came for this long: a worker's tasks
# end a round at a time, and making the folder again for every submission cost two folder
# creations a submission (the costliest file operation on some disks: 0.13 ms on an ext4 VM).
TRASH_LINGER_S = 2.0
_START_JANITOR = ("import sys; sys.path.insert(0, sys.argv[1]); "
                  "from grader.steps.janitor import main; main(sys.argv[2:])")


def delete_in_background() -> None:
    """From now on this process's discard() returns once the folder is in the trash; the janitor
    deletes it from there. Without one (it could not start, or died) discard deletes at once."""
    global _JANITOR
    with _JANITOR_LOCK:
        if _JANITOR is not None and _JANITOR.poll() is None:
            return
        package_parent = str(Path(__file__).resolve().parents[2])
        try:
            _JANITOR = subprocess.Popen([sys.executable, "-I", "-S", "-c", _START_JANITOR, package_parent,
                                         str(TRASH_LINGER_S)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        start_new_session=True)
        except OSError:
            _JANITOR = None


def stop_janitor(timeout: float = 30) -> None:
    """Close the janitor's pipe and wait for it to finish what it was given (tests)."""
    global _JANITOR
    with _JANITOR_LOCK:
        janitor, _JANITOR = _JANITOR, None
    if janitor is not None:
        janitor.stdin.close()
        try:
            janitor.wait(timeout)
        except subprocess.TimeoutExpired:
            janitor.kill()
            janitor.wait()


def _to_janitor(target: Path) -> bool:
    """Hand `target` (a trash entry) to the janitor; False when there is none to take it."""
    with _JANITOR_LOCK:
        if _JANITOR is None:
            return False
        try:
            _JANITOR.stdin.write(os.fsencode(target) + b"\0")
            _JANITOR.stdin.flush()
            return True
        except (OSError, ValueError):  # it died (a broken pipe) or its pipe was closed
            return False


def _delete(target: Path, trash: Path | None) -> None:
    remove_tree(target)
    if trash is not None:
        remove_if_empty(trash)


def discard(path: Path) -> None:
    """Remove a folder so that a stop midway (SIGTERM, SIGKILL) never leaves it where it was: it
    is first renamed into the trash (atomic), named after this process, then deleted from there
    (by the janitor after delete_in_background); what a stopped deletion leaves, the next
    `empty_trash` of any grader removes."""
    path = Path(path)
    trash = trash_folder()
    if trash is not None:
        target = trash / f"{os.getpid()}-{_own_start()}-{uuid.uuid4().hex}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            if not os.path.lexists(path):
                return
            target = path  # the trash went away meanwhile (another grader emptied it)
        except OSError:  # another filesystem, or a trash that cannot take it: removed where it is
            target = path
    else:
        target = path
    if target != path and _to_janitor(target):
        return
    _delete(target, trash)


TRASH_INTERVAL = 30.0  # seconds: how often a grading process looks for deletions that others left
_EMPTIED_AT: dict[int, float] = {}  # pid -> when it last looked (a forked child has its own pid)


def empty_trash() -> list[str]:
    """Finish the deletions that a stopped grader left in the trash: entries of a process that
    no longer exists (its pid gone, or reused by another process), each claimed by a rename
    first so two graders never delete the same one. A live grader's are left alone. Returns the
    names removed."""
    from grader.sandbox.docker import owner_is_gone

    _EMPTIED_AT[os.getpid()] = time.monotonic()  # any sweep counts for empty_trash_now_and_then
    trash = trash_folder(create=False)
    if trash is None:
        return []
    removed = []
    try:
        names = sorted(os.listdir(trash))
    except FileNotFoundError:  # emptied and removed meanwhile by another grader, or another thread's discard
        return []
    mine = f"{os.getpid()}-{_own_start()}-"
    for name in names:
        owned = ENTRY.match(name)
        if owned and (name.startswith(mine)  # this process's own deletions (other threads'): it lives
                      or not owner_is_gone(socket.gethostname(), owned.group(1), owned.group(2))):
            continue
        claimed = trash / f"{os.getpid()}-{_own_start()}-{uuid.uuid4().hex}"
        try:
            os.rename(trash / name, claimed)
        except OSError:
            continue  # another grader claimed it first
        remove_tree(claimed)
        removed.append(name)
    try:
        trash.rmdir()
    except OSError:
        pass
    return removed


def empty_trash_now_and_then() -> list[str]:
    """empty_trash, at most once every TRASH_INTERVAL seconds in this process: after each
    submission, so a long-lived grader (a cluster worker) finishes what a stopped one left within
    half a minute, without listing the trash and reading /proc for every other grader's entries
    at every submission (a batch empties it at its start in any case)."""
    last = _EMPTIED_AT.get(os.getpid())
    if last is not None and time.monotonic() - last < TRASH_INTERVAL:
        return []
    return empty_trash()
