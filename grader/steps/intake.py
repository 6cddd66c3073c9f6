"""Step 1, intake: turn a zip, a folder or a single file into a checked set of submitted files.

Nothing is graded from an archive that breaks a rule: every entry is checked before any is
written, and sizes are counted on the bytes actually inflated, not on what headers claim.
"""

from __future__ import annotations

import fnmatch
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.course.spec import IntakeLimits
from grader.errors import RejectedSubmission
from grader.safe_fs import TreeTooLarge, copy_file, walk
from grader.steps.naming import is_plain_name, parse_stem, submission_stem

JUNK = {"__MACOSX", ".DS_Store", "__pycache__", ".ipynb_checkpoints", "Thumbs.db"}
# What a student's working folder holds that is never part of a submission.
NOT_SUBMITTED = JUNK | {"data", "datasets", "checkpoints", "weights", "data_cache", ".venv", "venv", ".git", ".tmp",
                        ".pytest_cache", ".grader", "grader-tool"}  # grader-tool: the handout's student tool
UTF8_FLAG = 0x800


@dataclass
class Submission:
    source: Path
    stem: str
    student_id: str
    name: str
    files_dir: Path
    files: list[str] = field(default_factory=list)  # posix paths relative to files_dir
    warnings: list[str] = field(default_factory=list)

    def path_of(self, rel: str) -> Path:
        return self.files_dir / rel


def _decode_name(info: zipfile.ZipInfo) -> str:
    """Windows zip tools write names in the local code page without the UTF-8 flag; Python
    then reads them as cp437. Undo that and try UTF-8, then GBK (Chinese Windows)."""
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in JUNK or p.startswith("._") for p in parts)


MAX_MEMBER_DEPTH = 16
MAX_NAME_BYTES = 255


def _check_member_name(name: str, source: Path) -> PurePosixPath:
    if "\\" in name:
        name = name.replace("\\", "/")
    path = PurePosixPath(name)
    shown = name if len(name) <= 120 else name[:117] + "..."
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise RejectedSubmission(f"archive entry {shown!r} has an absolute path", source)
    if ".." in path.parts:
        raise RejectedSubmission(f"archive entry {shown!r} points outside the archive ('..')", source)
    if "\0" in name or any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise RejectedSubmission(f"archive entry {shown!r} has control characters in its name", source)
    if len(path.parts) > MAX_MEMBER_DEPTH:
        raise RejectedSubmission(f"archive entry {shown!r} is nested more than {MAX_MEMBER_DEPTH} folders deep", source)
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in path.parts):
        raise RejectedSubmission(f"archive entry {shown!r} has a name longer than {MAX_NAME_BYTES} bytes", source)
    return path


def _check_forbidden(rel: str, limits: IntakeLimits, source: Path) -> None:
    base = PurePosixPath(rel).name
    for pattern in limits.forbidden:
        if fnmatch.fnmatch(base, pattern):
            raise RejectedSubmission(
                f"{rel!r} looks like a dataset or checkpoint ({pattern}); submit code and logs only", source
            )


def _strip_single_top_folder(paths: list[PurePosixPath]) -> list[PurePosixPath]:
    tops = {p.parts[0] for p in paths}
    if len(tops) == 1 and all(len(p.parts) > 1 for p in paths):
        return [PurePosixPath(*p.parts[1:]) for p in paths]
    return paths


def _extract_zip(source: Path, dest: Path, limits: IntakeLimits) -> list[str]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:  # ValueError: a name flagged UTF-8 that is not
        raise RejectedSubmission(f"not a readable zip archive ({type(exc).__name__}: {str(exc)[:120]})",
                                 source) from None
    with archive:
        members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in archive.infolist():
            name = _decode_name(info)
            path = _check_member_name(name, source)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise RejectedSubmission(f"archive entry {name!r} is a symbolic link", source)
            if info.is_dir() or _is_junk(path.parts):
                continue
            members.append((info, path))
        if len(members) > limits.max_files:
            raise RejectedSubmission(f"archive holds {len(members)} files, more than the limit of {limits.max_files}",
                                     source)
        declared = sum(info.file_size for info, _ in members)
        if declared > limits.max_bytes:
            raise RejectedSubmission(f"archive inflates to {declared} bytes, more than the limit "
                                     f"of {limits.max_bytes}", source)
        rel_paths = _strip_single_top_folder([p for _, p in members])
        for rel in rel_paths:
            _check_forbidden(str(rel), limits, source)
        folders = {str(parent) for rel in rel_paths for parent in rel.parents if str(parent) != "."}
        both = sorted(folders & {str(rel) for rel in rel_paths})
        if both:
            raise RejectedSubmission(f"archive holds {both[0]!r} both as a file and as a folder", source)
        seen: set[str] = set()
        made = {dest}  # folders made (or there) already: a folder made once per archive, not once per member
        written = 0
        for (info, _), rel in zip(members, rel_paths):
            key = str(rel)
            if key in seen:
                raise RejectedSubmission(f"archive holds {key!r} twice", source)
            seen.add(key)
            target = dest / key
            try:
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
            except OSError as exc:  # a name the file system cannot hold as a folder: one line, never a traceback
                raise RejectedSubmission(f"entry {key!r} cannot be extracted ({exc.strerror or exc})", source) from None
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 16):
                        written += len(chunk)
                        if written > limits.max_bytes:
                            raise RejectedSubmission(
                                f"archive inflates past the limit of {limits.max_bytes} bytes (sizes in "
                                "its headers are false)",
                                source,
                            )
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise RejectedSubmission(f"entry {key!r} cannot be extracted ({exc})", source) from None
        return sorted(seen)


def _copy_folder(source: Path, dest: Path, limits: IntakeLimits) -> list[str]:
    files: list[str] = []
    total = 0
    try:
        entries = list(walk(source, max_depth=MAX_MEMBER_DEPTH, max_entries=limits.max_files * 10 + 100))
    except TreeTooLarge as exc:
        raise RejectedSubmission(f"folder holds {exc.strerror}", source) from None
    for entry in entries:
        rel = PurePosixPath(entry.rel)
        if _is_junk(rel.parts):
            continue
        if entry.is_symlink:
            raise RejectedSubmission(f"{entry.rel!r} is a symbolic link", source)
        if entry.is_dir:
            continue
        if not entry.is_file:
            raise RejectedSubmission(f"{entry.rel!r} is not a regular file (a FIFO, socket or device)", source)
        files.append(rel.as_posix())
        total += entry.size
        if len(files) > limits.max_files:
            raise RejectedSubmission(f"folder holds more than the limit of {limits.max_files} files", source)
        if total > limits.max_bytes:
            raise RejectedSubmission(f"folder holds more than the limit of {limits.max_bytes} bytes", source)
        _check_forbidden(rel.as_posix(), limits, source)
    for rel in files:
        try:
            copy_file(source / rel, dest / rel, root=source, cap=limits.max_bytes)
        except OSError as exc:
            raise RejectedSubmission(f"{rel!r} cannot be read: {exc.strerror or exc}", source) from None
    return files


def student_folder_files(folder: Path, limits: IntakeLimits) -> list[Path]:
    """The files of a student's working folder that belong in a submission: no data, caches,
    checkpoints or environments (what `package` zips and `check` reads)."""
    wanted = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or path.is_symlink() or any(p in NOT_SUBMITTED for p in rel.parts):
            continue
        if rel.suffix in (".pyc", ".pyo") or any(fnmatch.fnmatch(rel.name, pat) for pat in limits.forbidden):
            continue
        wanted.append(path)
    return wanted


def open_submission(source: Path, dest: Path, limits: IntakeLimits, student_id: str | None = None,
                    upload_name: str | None = None) -> Submission:
    """Check and unpack `source` into `dest` (which must be empty or absent). A single file is
    saved as `upload_name` when given (the name the student uploaded it under, before the LMS
    prefixed it)."""
    source = Path(source)
    if not source.exists():
        raise RejectedSubmission("no such file or folder", source)
    if source.is_symlink():
        raise RejectedSubmission("is a symbolic link", source)
    if not (source.is_dir() or source.is_file()):
        raise RejectedSubmission("is not a regular file or folder (a FIFO, socket or device)", source)
    dest.mkdir(parents=True, exist_ok=True)
    stem = submission_stem(source)
    if source.is_dir():
        files = _copy_folder(source, dest, limits)
    elif source.suffix.lower() == ".zip" or zipfile.is_zipfile(source):  # the name first: no read for a .zip
        files = _extract_zip(source, dest, limits)
    else:
        if source.stat().st_size > limits.max_bytes:
            raise RejectedSubmission(f"file is larger than the limit of {limits.max_bytes} bytes", source)
        name = upload_name if upload_name and is_plain_name(upload_name) else source.name
        _check_forbidden(name, limits, source)
        try:
            copy_file(source, dest / name, root=source.parent, cap=limits.max_bytes)
        except OSError as exc:
            raise RejectedSubmission(f"cannot be read: {exc.strerror or exc}", source) from None
        files = [name]
    if not files:
        raise RejectedSubmission("submission holds no files", source)
    parsed = parse_stem(stem)
    if student_id:
        sid, name = student_id, (parsed[1] if parsed else stem)
    elif parsed:
        sid, name = parsed
    else:
        raise RejectedSubmission(
            f"cannot read the student ID from the name {stem!r}: expected studentID_name (or pass --student-id)", source
        )
    return Submission(source=source, stem=stem, student_id=sid, name=name, files_dir=dest, files=files)
