"""The course secret: seeds for held-out evaluation that no student step ever sees.

A trusted step may take `{secret_seed}` (e.g. the colouring of a held-out environment). It is
an HMAC of the student ID under a key kept outside the repository, so it is the same every
time a submission is graded (grades are reproducible) and unknowable from the handout."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_ENV = "GRADER_SECRET_FILE"


def secret_path() -> Path:
    env = os.environ.get(SECRET_ENV)
    return Path(env) if env else Path.home() / ".config" / "grader" / "course_secret"


_KNOWN: dict[tuple[Path, int, int], bytes] = {}  # (path, inode, mtime) -> key: read once, not once a submission


def course_secret() -> bytes:
    """The key, created on first use (0600); keep it with the gradebook, never in the handout."""
    path = secret_path()
    try:
        info = path.stat()
        known = _KNOWN.get((path, info.st_ino, info.st_mtime_ns))
        if known is not None:
            return known
    except OSError:
        pass
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # the first grader to get here wins; the others read its key
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_text().strip().encode()
    info = path.stat()
    _KNOWN[(path, info.st_ino, info.st_mtime_ns)] = key
    return key


def secret_id() -> str:
    """A public name of the key: the same on two machines exactly when they hold the same key,
    and telling nothing of it (a hash of it under a fixed label). Workers grading one batch must
    hold one key, or a submission's held-out draw would depend on which machine graded it."""
    return hashlib.sha256(b"grader course secret id\0" + course_secret()).hexdigest()[:12]


def secret_seed(student_id: str, assignment_id: str) -> int:
    mac = hmac.new(course_secret(), f"{assignment_id}\0{student_id}".encode(), hashlib.sha256).hexdigest()
    return int(mac[:8], 16)
