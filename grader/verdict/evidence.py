"""What a rubric is applied to: everything the steps found out about one submission, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.verdict.checker import HiddenTestsOutcome
from grader.verdict.parse import Summary


@dataclass
class ParamCountOutcome:
    count: int | None
    error: str | None = None


@dataclass
class Evidence:
    summaries: dict[str, Summary] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    tests: dict[str, HiddenTestsOutcome] = field(default_factory=dict)
    params: dict[str, ParamCountOutcome] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # item id -> why it was not evaluated
    trusted_logs: set[str] = field(default_factory=set)  # logs written by trusted steps (no student code ran there)
    own_logs: bool = False  # `grader check`: the summaries are the student's own logs
