"""Errors a user sees as one line: they name the file and the problem, never a traceback."""

from __future__ import annotations

from pathlib import Path


class GraderError(Exception):
    """A problem with the user's input or setup; the CLI prints it as one line and exits 2."""

    exit_code = 2

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class SpecError(GraderError):
    """An assignment or rubric file that does not validate."""


class RejectedSubmission(GraderError):
    """A submission the grader refuses to grade (unsafe or malformed archive)."""
