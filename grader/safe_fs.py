"""Host-side file access to folders a sandbox could have written (workspaces, student
folders), safe by construction: no path component is followed through a symbolic link, only
regular files are opened, reads and copies stop at a size cap, and tree walks stop at a depth
and an entry count. The grader runs as root with the Docker backend, so a link planted in a
workspace must never make it read or write a host file."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

READ_CAP = 20_000_000  # bytes read from one workspace file for parsing
COPY_CAP = 50_000_000  # bytes copied from one workspace file into a report
MAX_DEPTH = 32
MAX_ENTRIES = 20_000

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


class UnsafeFile(OSError):
    """A workspace path the grader refuses to open (a link, a FIFO, a device, a folder...)."""


class TreeTooLarge(OSError):
    """A folder deeper or with more entries than a walk accepts."""


def _parts(root: Path, path: Path) -> list[str]:
    try:
        rel = Path(os.path.normpath(path)).relative_to(os.path.normpath(root))
    except ValueError:
        raise UnsafeFile(errno.EPERM, f"{path} is outside {root}") from None
    parts = list(rel.parts)
    if not parts or any(p in ("..", "") for p in parts):
        raise UnsafeFile(errno.EPERM, f"{path} is not a file inside {root}")
    return parts


def _open_parent(root: Path, parts: list[str]) -> int:
    """A descriptor of the folder holding the last part, reached without following any link."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFile(errno.ELOOP, f"{'/'.join(parts)}: a folder on the way is a link or not a folder") from None
        raise
    return fd


def open_regular(path: Path, root: Path | None = None) -> int:
    """A read descriptor of `path` (inside `root`, default its folder) if it is a regular file
    reached without links. FIFOs and devices are refused before they are opened."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    parts = _parts(root, path)
    parent = _open_parent(root, parts)
    try:
        try:
            before = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise
        if not stat.S_ISREG(before.st_mode):
            raise UnsafeFile(errno.EPERM, f"{path.name} is not a regular file ({_kind(before.st_mode)})")
        try:
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFile(errno.ELOOP, f"{path.name} is a symbolic link") from None
            raise
    finally:
        os.close(parent)
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise UnsafeFile(errno.EPERM, f"{path.name} changed while it was opened")
    return fd


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a plain file"


def read_bytes(path: Path, root: Path | None = None, cap: int = READ_CAP) -> tuple[bytes, bool]:
    """At most `cap` bytes of a regular file; (data, truncated)."""
    fd = open_regular(path, root)
    try:
        return read_open(fd, cap)
    finally:
        os.close(fd)


def read_open(fd: int, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes from an open file (one open_regular gave), from where it stands; (data, truncated)."""
    chunks, size = [], 0
    while size <= cap:
        chunk = os.read(fd, min(1 << 20, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:cap], len(data) > cap


def read_text(path: Path, root: Path | None = None, cap: int = READ_CAP) -> str:
    data, truncated = read_bytes(path, root, cap)
    text = data.decode("utf-8", errors="replace")
    return text + (f"\n[grader] read only the first {cap} bytes\n" if truncated else "")


def read_untrusted_bytes(path: Path, root: Path | None = None, cap: int = READ_CAP) -> bytes:
    """The whole of a regular workspace file, or an OSError: a link (anywhere on the way from
    `root`), a FIFO, a device or a file over `cap` bytes is refused (data a sandbox recorded for
    parsing, where a truncated read would be wrong)."""
    data, truncated = read_bytes(path, root, cap)
    if truncated:
        raise OSError(errno.EFBIG, f"{Path(path).name} is larger than {cap:,} bytes")
    return data


TAIL_CAP = 1_000_000  # bytes read from the end of a log to say how a step ended


def read_tail(path: Path, root: Path | None = None, cap: int = TAIL_CAP) -> str:
    """The last `cap` bytes of a regular workspace file as text (how a log ends: the last
    traceback, the last line), read like every other untrusted file."""
    fd = open_regular(path, root)
    try:
        size = os.fstat(fd).st_size
        if size > cap:
            os.lseek(fd, size - cap, os.SEEK_SET)
        chunks, left = [], cap
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def log_tail(path: Path, root: Path | None = None, lines: int = 1, width: int = 300) -> str:
    """The last lines a step printed itself (not the grader's own `[grader]` notes), on one
    line: how far it got, for a message. A log that is missing, a link or not a regular file
    reads as empty. The one log-tail function of the grader."""
    try:
        text = read_tail(path, root)
    except OSError:
        return ""
    own = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("[grader]")]
    return " | ".join(own[-lines:])[:width]


def remove_inside(path: Path, root: Path) -> None:
    """Remove `path` inside `root` without following a link on the way: when a folder on the way
    was replaced by a link (a step may plant one), the link itself is removed, never what it
    points to."""
    current = Path(root)
    for part in _parts(root, path):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(current)
            return
    remove_tree(current)


def is_regular(path: Path, root: Path | None = None) -> bool:
    try:
        os.close(open_regular(path, root))
        return True
    except OSError:
        return False


def copy_file(path: Path, dest: Path, root: Path | None = None, cap: int = COPY_CAP) -> bool:
    """Copy a regular workspace file into a host folder (never a link, never past `cap` bytes:
    a sparse 2 GiB file costs `cap`). Returns whether it was cut short; the cut is noted."""
    fd = open_regular(path, root)
    copied = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open_new(dest) as out:
            while copied < cap:
                chunk = os.read(fd, min(1 << 20, cap - copied))
                if not chunk:
                    return False
                out.write(chunk)
                copied += len(chunk)
            if os.read(fd, 1):
                out.write(f"\n[grader] copied only the first {cap} bytes\n".encode())
                return True
            return False
    finally:
        os.close(fd)


def open_new(path: Path, mode: str = "wb"):
    """A fresh file at `path` for writing: whatever was there (a planted link) is removed
    first, and O_EXCL|O_NOFOLLOW refuse one that appears in between."""
    path = Path(path)
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            remove_tree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    return os.fdopen(fd, mode)


@dataclass
class Entry:
    rel: str  # posix path relative to the walk's root (surrogate escapes for names that are not UTF-8)
    path: str
    is_dir: bool
    is_file: bool
    is_symlink: bool
    size: int


def walk(root: Path, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES):
    """Every entry under `root`, parents before children, links never followed. Raises
    TreeTooLarge past `max_depth` levels or `max_entries` entries, before doing more work."""
    count = 0
    stack: list[tuple[str, str, int]] = [(str(root), "", 0)]
    while stack:
        folder, rel_folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            count += 1
            if count > max_entries:
                raise TreeTooLarge(errno.EFBIG, f"more than {max_entries} files and folders")
            st = entry.stat(follow_symlinks=False)
            rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
            is_dir = stat.S_ISDIR(st.st_mode)
            yield Entry(rel, entry.path, is_dir, stat.S_ISREG(st.st_mode), stat.S_ISLNK(st.st_mode), st.st_size)
            if is_dir:
                if depth + 1 >= max_depth:
                    raise TreeTooLarge(errno.EFBIG, f"folders nested deeper than {max_depth} levels ({rel[:80]}...)")
                stack.append((entry.path, rel, depth + 1))


def remove_tree(path: Path) -> None:
    """Remove a folder however deep it is or whatever its names (shutil.rmtree recurses and
    fails past Python's recursion limit); links inside are removed, never followed."""
    path = Path(path)
    try:
        shutil.rmtree(path)
        return
    except FileNotFoundError:
        return
    except (OSError, RecursionError):
        pass
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=False, capture_output=True, timeout=600)


SKIPPED_IN_DIGESTS = ("__pycache__",)


def tree_digest(digest, root: Path) -> None:
    """Feed a file, or every entry of a folder in name order, into `digest` (a hashlib object):
    each path relative to `root`, then a regular file's bytes, a link's target (never followed)
    or the kind of anything else. The one tree hash behind every cache key and fingerprint: a
    submission's tree may hold links and FIFOs, a course's the same files in another order."""
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        entries = [Entry(root.name, str(root), False, root.is_file() and not root.is_symlink(), root.is_symlink(), 0)]
        base = root.parent
    else:
        entries = walk(root)
        base = root
    for entry in entries:
        if any(part in SKIPPED_IN_DIGESTS for part in entry.rel.split("/")) or entry.is_dir:
            continue
        digest.update(b"\1" + entry.rel.encode("utf-8", "surrogateescape") + b"\0")
        if entry.is_symlink:
            digest.update(b"link:" + os.fsencode(os.readlink(entry.path)))
        elif entry.is_file:
            fd = open_regular(Path(entry.path), base)
            with os.fdopen(fd, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            digest.update(b"special")
