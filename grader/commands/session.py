"""What every verb gets from the command line: the course root and the consoles it prints to,
with the few things several verbs do with them (load an assignment, choose a sandbox)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from grader.course import catalog
from grader.sandbox import Sandbox


def make_console(stream) -> Console:
    """Off a terminal (a pipe, a CI log, a file) lines are never wrapped mid-sentence: each
    message stays one line that grep and the next program can read."""
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stream is sys.stderr, highlight=False)
    return Console(stderr=stream is sys.stderr, highlight=False, soft_wrap=True, width=1000)


@dataclass
class Session:
    root: Path  # the course root: assignments/, rubrics/, solutions/, skeleton/
    console: Console  # results
    err: Console  # notices and warnings

    def notice(self, text: str) -> None:
        self.err.print(text, style="yellow", markup=False)

    def load(self, assignment_id: str) -> catalog.Assignment:
        return catalog.load(assignment_id, self.root)

    def assignment_ids(self, given: tuple[str, ...] | list[str] = ()) -> list[str]:
        """The assignments named, else every one in the course."""
        return list(given) or catalog.list_ids(self.root)

    def pick_assignment(self, assignment_id: str | None, paths: list[Path]) -> catalog.Assignment:
        """--assignment, the only one, or the one whose editable files the submissions hold."""
        from grader.batch.discovery import guess_assignment

        if assignment_id:
            return self.load(assignment_id)
        ids = catalog.list_ids(self.root)
        if len(ids) == 1:
            return self.load(ids[0])
        assignment = guess_assignment(paths, [self.load(i) for i in ids])
        self.err.print(f"assignment: {assignment.id} (from the submitted files; --assignment to choose)")
        return assignment

    def sandbox(self, backend: str | None, local_fallback: bool = True) -> Sandbox:
        from grader.sandbox import make_sandbox

        return make_sandbox(backend, notice=self.notice, local_fallback=local_fallback)


def cluster_backend(backend: str | None) -> str:
    """A cluster's workers run Docker unless asked otherwise: `auto` would pick per worker, and one
    run must not mix sandboxes."""
    chosen = backend or os.environ.get("GRADER_BACKEND") or "docker"
    return "docker" if chosen == "auto" else chosen
