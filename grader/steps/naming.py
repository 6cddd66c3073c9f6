"""A submission's name and its report folder: the one place both are decided. Intake, the LMS
readers, the pipeline, the batch, the cluster and the pages all ask here, so the folder a report is
written to is the folder the batch commits and the index links to."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from grader.inert import clean_text

STEM_PATTERN = re.compile(r"^(?P<id>\d+)_(?P<name>.+)$")  # studentID_name
STAGING = ".grading"  # under --out: reports being written; never a submission's folder
FOLDER_LIMIT = 200  # bytes of a report folder's name: file systems stop at 255
_FOLDER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|]")


def is_plain_name(name: str) -> bool:
    """Whether `name` names one entry directly inside a folder: not empty, `.` or `..`, and no
    separator (`/`, `\\`) or NUL in it."""
    return name not in ("", ".", "..") and not any(ch in name for ch in "/\\\0")


def submission_stem(source: Path) -> str:
    """The name a submission goes by (and its report folder): the zip or file name without its
    extension, or the folder name."""
    if source.name.lower().endswith(".zip") or source.is_file():
        return file_stem(source.name)
    return source.name


def file_stem(name: str) -> str:
    """submission_stem of a file called `name`."""
    return name[:-4] if name.lower().endswith(".zip") else Path(name).stem


def parse_stem(stem: str) -> tuple[str, str] | None:
    m = STEM_PATTERN.match(stem)
    return (m["id"], m["name"]) if m else None


def folder_name(stem: str, limit: int = FOLDER_LIMIT) -> str:
    """A folder name for a report that stays inside --out whatever the submission is called.
    A name that is a plain folder name already is kept as it is (the batch finds reports by
    it); one that would point elsewhere (`..` from `...zip`, a separator, NUL) or is too long
    becomes a cleaned form plus a short hash of the original, so two names never share a folder."""
    raw = clean_text(stem).encode()
    if is_plain_name(stem) and len(raw) <= limit:
        return stem
    cleaned = _FOLDER_UNSAFE.sub("_", clean_text(stem)).lstrip(". ").rstrip(" ")
    if len(cleaned.encode()) > limit:
        cleaned = cleaned.encode()[:limit].decode("utf-8", "ignore")
    digest = hashlib.sha256(raw).hexdigest()[:8]
    return f"{cleaned or 'submission'}-{digest}"


def report_folder_name(stem: str) -> str | None:
    """The folder, directly inside --out, that holds the report of the submission called `stem`;
    None when the name can name no folder of its own (`..` from `...zip`, an empty name, the
    batch's staging folder): the batch rejects such a file, naming it. A long or odd name becomes
    a cleaned, shortened form plus a hash of the whole (`folder_name`)."""
    if stem in ("", ".", "..", STAGING):
        return None
    return folder_name(stem)


def report_folder(out: Path, stem: str) -> Path:
    """Always a folder directly inside `out`, whatever the submission is called."""
    return out / (report_folder_name(stem) or folder_name(stem))
