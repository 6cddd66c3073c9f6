"""What a TA sees while a batch runs: a progress bar with the time left and what each job does."""


from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grader.inert import for_terminal

if TYPE_CHECKING:
    from grader.batch.executors import Executor


def inert(text: str) -> str:
    """A name a student chose, safe on the TA's terminal: no control characters, no rich markup."""
    return for_terminal(text)


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def counts_for_eta(report) -> bool:
    """Whether a finished submission's time tells how long the others will take: a real grading
    (its experiments were run), not a rejection or a setup error that returned in an instant.
    (Cached reports never reach the estimate: they were not graded in this run.)"""
    return report.status != "rejected" and bool(report.runs) and "total" in report.timings


def estimate_remaining(durations: list[float], remaining: int, parallelism: int) -> float | None:
    """Seconds left: the mean time of the submissions really graded so far (counts_for_eta),
    times those left, over the submissions graded at once. None until one has finished."""
    if not durations:
        return None
    return statistics.fmean(durations) * remaining / max(1, parallelism)


class Activity:
    def __init__(self, executor: Executor):
        self.executor = executor

    def __rich__(self):
        table = Table.grid(padding=(0, 2))
        for slot, what in self.executor.activity():
            table.add_row(f"  [dim]{inert(slot)}[/]", inert(what)[:100])
        return table


class BatchProgress(Progress):
    """The bar, then one line per job slot or worker saying what it grades."""

    def __init__(self, activity: Activity, **kwargs):
        self.activity_view = activity
        super().__init__(
            TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
            TextColumn("done {task.fields[done]}, failed {task.fields[failed]}, remaining {task.fields[remaining]}, "
                       "cached {task.fields[cached]}"),
            TimeElapsedColumn(), TextColumn("eta {task.fields[eta]}"), **kwargs)

    def get_renderables(self):
        yield from super().get_renderables()
        yield self.activity_view
