"""Step 5, score: apply a rubric to the evidence. Pure: no I/O, so `grader check` (the
student's own logs) and `grader grade` (the grader's re-run) share every rule."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel

from grader.course.spec import FilePresentItem, MetricItem, ParamCountItem, Rubric, TestsItem
from grader.verdict.evidence import Evidence, ParamCountOutcome

ItemStatus = Literal["passed", "partial", "failed", "error", "skipped"]


class ItemResult(BaseModel):
    id: str
    title: str
    kind: str
    value: float | int | str | None
    threshold: str | None
    points: float
    max_points: float
    status: ItemStatus
    message: str
    bonus: bool = False
    group: str | None = None
    counted: bool = True  # False when another item of its group scored higher
    tiers: list[dict] = []  # for plots: [{"op": ">=", "threshold": 0.6, "points": 15}]
    computed_by: str = ""  # where the value was computed, in the student's words
    flag: str = ""  # something the TA should look at (e.g. a collapse on held-out data)
    visibility: str = "visible"  # the rubric item's: visible, after_due_date, after_published, hidden
    leaderboard: str | None = None  # column name on Gradescope's leaderboard, for metric items that feed it
    leaderboard_order: str = "desc"
    cases: list[dict] = []  # a tests item's case outcomes, [{"name": ..., "passed": ...}], for the class analytics


class ScoreResult(BaseModel):
    items: list[ItemResult]
    score: float
    max_score: float
    bonus_points: float


BY_GRADER_FROM_EXPORTS = "by the grader, from the data your code exported (no code of yours ran in that step)"
BY_CHECKER = "by the grader, comparing what your code returned with the reference solution's outputs"
FROM_OWN_LOGS = "from your own logs (the TA's re-run decides)"
IN_YOUR_RUN = "from the Summary your run printed"
FROM_FILES = "by the grader, from the files you submitted"


def _log_source(log: str, ev: Evidence) -> str:
    if ev.own_logs:
        return FROM_OWN_LOGS
    return BY_GRADER_FROM_EXPORTS if log in ev.trusted_logs else IN_YOUR_RUN


def _status(points: float, max_points: float) -> ItemStatus:
    if max_points > 0 and points >= max_points:
        return "passed"
    return "partial" if points > 0 else "failed"


def _score_metric(item: MetricItem, dataset: str | None, ev: Evidence) -> ItemResult:
    tiers = sorted(item.tiers_for(dataset), key=lambda t: t.points, reverse=True)
    base = dict(id=item.id, title=item.title, kind=item.kind, max_points=item.max_points(dataset), bonus=item.bonus,
                group=item.group, tiers=[t.model_dump() for t in tiers], computed_by=_log_source(item.log, ev))
    summary = ev.summaries.get(item.log)
    if summary is None or not summary.ok:
        reason = summary.error if summary else f"log {item.log} was not produced"
        return ItemResult(**base, value=None, threshold=None, points=0, status="error", message=f"{item.log}: {reason}")
    if item.key not in summary.values:
        return ItemResult(**base, value=None, threshold=None, points=0, status="error",
                          message=f"{item.log}: Summary has no {item.key!r} (has "
                                  f"{', '.join(summary.values) or 'nothing'})")
    value = summary.values[item.key]
    if math.isnan(value):
        return ItemResult(**base, value=None, threshold=None, points=0, status="failed", message=f"{item.key} is NaN")
    held = summary.values.get(item.holdout.key) if item.holdout else None
    if held is not None and not held >= item.holdout.threshold:
        message = (f"{item.key} = {value:.4f}, but only {held:.4f} on held-out environments (floor "
                   f"{item.holdout.threshold:g}): the model does not generalise beyond the published test data")
        return ItemResult(**base, value=value, threshold=f"held-out >= {item.holdout.threshold:g}", points=0,
                          status="failed", message=message, flag=f"{item.id}: {message}")
    tier = item.tier_met(value, dataset)
    if tier is not None:
        message = f"{item.key} = {value:.4f} meets {tier.describe()} for {tier.points:g} points"
        return ItemResult(**base, value=value, threshold=tier.describe(), points=tier.points,
                          status=_status(tier.points, base["max_points"]), message=message)
    lowest = tiers[-1] if tiers else None
    threshold = lowest.describe() if lowest else None
    return ItemResult(**base, value=value, threshold=threshold, points=0, status="failed",
                      message=(f"{item.key} = {value:.4f} misses {threshold}" if threshold
                               else f"{item.key} = {value:.4f}"))


def _score_tests(item: TestsItem, dataset: str | None, ev: Evidence) -> ItemResult:
    base = dict(id=item.id, title=item.title, kind=item.kind, max_points=item.points, bonus=item.bonus,
                group=item.group, computed_by=BY_CHECKER)
    outcome = ev.tests.get(item.id)
    if outcome is None:
        return ItemResult(**base, value=None, threshold=None, points=0, status="error",
                          message="hidden tests did not run")
    if not outcome.cases:
        return ItemResult(**base, value=None, threshold=None, points=0, status="error",
                          message=outcome.error or "no tests ran")
    weight = {c.name: item.case_weight(c.name) for c in outcome.cases}
    total = sum(weight.values())
    earned = sum(weight[c.name] for c in outcome.cases if c.passed)
    points = round(item.points * earned / total, 4) if total else 0.0
    passed = sum(c.passed for c in outcome.cases)
    failures = [f"{c.name}: {c.message}" for c in outcome.cases if not c.passed]
    message = f"{passed}/{len(outcome.cases)} tests passed"
    if failures:
        message += "; " + "; ".join(failures)
    if outcome.error:
        message += f" ({outcome.error})"
    return ItemResult(**base, value=f"{passed}/{len(outcome.cases)}", threshold="all tests pass", points=points,
                      status=_status(points, item.points), message=message,
                      cases=[{"name": c.name, "passed": bool(c.passed)} for c in outcome.cases])


def _score_params(item: ParamCountItem, dataset: str | None, ev: Evidence) -> ItemResult:
    rule = (f"== {item.exact:,}" if item.exact is not None
            else f"in [{item.min if item.min is not None else '-inf'}, {item.max if item.max is not None else 'inf'}]")
    base = dict(id=item.id, title=item.title, kind=item.kind, max_points=item.points, bonus=item.bonus,
                group=item.group, threshold=rule, computed_by=_log_source(item.log, ev) if item.log else BY_CHECKER)
    if item.log:
        summary = ev.summaries.get(item.log)
        value = summary.values.get(item.key) if summary and summary.ok else None
        outcome = ParamCountOutcome(int(value) if value is not None and value == value else None,
                                    None if summary is None or summary.ok else f"{item.log}: {summary.error}")
        if value is None and outcome.error is None:
            outcome.error = f"{item.log}: no {item.key!r} was recorded"
    else:
        outcome = ev.params.get(item.id)
    if outcome is None or outcome.count is None:
        return ItemResult(**base, value=None, points=0, status="error",
                          message=outcome.error if outcome else "parameter count was not measured")
    n = outcome.count
    ok = ((n == item.exact) if item.exact is not None
          else ((item.min is None or n >= item.min) and (item.max is None or n <= item.max)))
    what = "trainable parameters" if item.trainable_only else "parameters"
    return ItemResult(**base, value=n, points=item.points if ok else 0, status="passed" if ok else "failed",
                      message=f"{item.object} has {n:,} {what}, expected {rule}")


def _score_file(item: FilePresentItem, dataset: str | None, ev: Evidence) -> ItemResult:
    ok = item.path in ev.present
    return ItemResult(id=item.id, title=item.title, kind=item.kind, value="present" if ok else "missing",
                      threshold="present", points=item.points if ok else 0, max_points=item.points,
                      status="passed" if ok else "failed",
                      message=f"{item.path} {'was' if ok else 'was not'} submitted", bonus=item.bonus, group=item.group,
                      computed_by=FROM_FILES)


# One scorer per rubric item kind (the `kind:` of the YAML): a new kind is its schema in
# grader/course/spec.py and its scorer here, nothing else.
SCORERS = {"metric": _score_metric, "tests": _score_tests, "param_count": _score_params, "file_present": _score_file}


def score(rubric: Rubric, dataset: str | None, evidence: Evidence) -> ScoreResult:
    results: list[ItemResult] = []
    for item in rubric.items:
        if item.id in evidence.skipped:
            results.append(ItemResult(id=item.id, title=item.title, kind=item.kind, value=None, threshold=None,
                                      points=0, max_points=item.max_points(dataset), status="skipped",
                                      message=evidence.skipped[item.id], bonus=item.bonus, group=item.group))
        else:
            results.append(SCORERS[item.kind](item, dataset, evidence))

    for item, result in zip(rubric.items, results):
        result.visibility = item.visibility
        if getattr(item, "leaderboard", None):
            result.leaderboard = item.title if item.leaderboard is True else str(item.leaderboard)
            result.leaderboard_order = item.leaderboard_order

    best: dict[str, ItemResult] = {}
    for result in results:
        key = result.group or f"item:{result.id}"
        if key not in best or result.points > best[key].points:
            best[key] = result
    for result in results:
        chosen = best[result.group or f"item:{result.id}"]
        result.counted = chosen is result
        if not result.counted and result.points > 0:
            result.message += f" (not counted: {chosen.id} scored higher in group {result.group})"
    regular = sum(r.points for r in best.values() if not r.bonus)
    bonus = sum(r.points for r in best.values() if r.bonus)
    total = regular + bonus
    if rubric.cap is not None:
        total = min(total, rubric.cap)
    return ScoreResult(items=results, score=round(total, 4), max_score=rubric.max_score(dataset),
                       bonus_points=round(bonus, 4))
