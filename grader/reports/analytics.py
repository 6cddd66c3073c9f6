"""Class analytics for the batch index page: how the class did on each rubric item, which
hidden tests failed most, whose failed core item a group or the cap hid, and who is flagged.
Pure functions over graded reports (plus the similarity CSV's rows, when there is one)."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.spec import COMPARATORS

SIMILARITY_CSV = "similarity.csv"
SIMILARITY_HTML = "similarity.html"
# One row per pair compared, written by `grader similarity`, read here to flag similar submissions.
SIMILARITY_COLUMNS = ["rank", "submission_a", "student_id_a", "name_a", "submission_b", "student_id_b", "name_b",
                      "b_from_archive", "similarity", "similarity_a", "similarity_b", "matched_tokens_a",
                      "matched_tokens_b", "above_threshold"]

STATUSES = ("passed", "partial", "failed", "error", "skipped")
# Reports written before items recorded their cases: a failed hidden test appears in its item's
# message as "<case name>: <first line of the failure>", after "N/M tests passed", separated by "; ".
_FAILED_TEST = re.compile(r"^(?P<name>[A-Za-z_][\w.\[\]-]*): ")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


@dataclass
class Threshold:
    value: float
    label: str
    reached: int = 0  # graded submissions whose value meets it


@dataclass
class ItemStats:
    id: str
    title: str
    kind: str
    bonus: bool
    max_points: float
    graded: int = 0  # graded submissions that have the item
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATUSES})
    mean_points: float = 0.0
    values: list[float] = field(default_factory=list)  # numeric values, for the distribution
    value_label: str = ""
    no_value: int = 0  # graded submissions without a value (error, not run)
    thresholds: list[Threshold] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.counts["passed"] / self.graded if self.graded else 0.0

    @property
    def credit_rate(self) -> float:
        """Share with any points: passed or partial."""
        return (self.counts["passed"] + self.counts["partial"]) / self.graded if self.graded else 0.0


@dataclass
class FailedTest:
    item_id: str
    test: str
    failed: int
    out_of: int  # graded submissions whose tests of this item ran
    stems: list[str]


@dataclass
class HiddenFailure:
    stem: str
    student_id: str | None
    name: str | None
    item_id: str
    status: str
    value: str
    why: str


@dataclass
class SimilarPair:
    rank: int
    a: str
    b: str
    similarity: float
    b_archive: bool


@dataclass
class Flagged:
    stem: str
    student_id: str | None
    name: str | None
    reasons: list[str]
    similar_ranks: list[int] = field(default_factory=list)  # anchors into similarity.html


@dataclass
class ClassAnalytics:
    submissions: int
    graded: int
    statuses: dict[str, int]
    scores: list[float]
    max_score: float
    items: list[ItemStats]
    failed_tests: list[FailedTest]
    hidden_failures: list[HiddenFailure]
    flagged: list[Flagged]
    similar_pairs: int = 0  # pairs at or above the similarity threshold

    @property
    def score_thresholds(self) -> list[Threshold]:
        return [Threshold(self.max_score, f"full marks {self.max_score:g}",
                          sum(s >= self.max_score for s in self.scores))]


def numeric_value(item) -> float | None:
    """A value to plot: a metric's value, a test item's share passed ("3/4" -> 0.75), a count."""
    value = item.value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if item.kind == "tests" and isinstance(value, str) and "/" in value:
        passed, _, total = value.partition("/")
        try:
            return int(passed) / int(total) if int(total) else None
        except ValueError:
            return None
    return None


def _thresholds(item) -> list[Threshold]:
    if item.tiers:
        return [Threshold(float(t["threshold"]), f"{t['op']} {t['threshold']:g}: {t['points']:g} pts")
                for t in sorted(item.tiers, key=lambda t: t["threshold"])]
    if item.kind == "tests":
        return [Threshold(1.0, "all pass")]
    if item.kind == "param_count" and item.threshold:
        numbers = [float(n) for n in _NUMBER.findall(item.threshold.replace(",", ""))]
        return [Threshold(n, f"{n:,.0f}") for n in numbers]
    return []


def _meets(item_kind: str, threshold: Threshold, value: float, tiers: list[dict]) -> bool:
    tier = next((t for t in tiers if float(t["threshold"]) == threshold.value), None)
    if tier is not None:
        return COMPARATORS[tier["op"]](value, tier["threshold"])
    if item_kind == "param_count":
        return value == threshold.value
    return value >= threshold.value


def item_stats(reports: list) -> list[ItemStats]:
    """Per rubric item (in rubric order), over graded submissions."""
    stats: dict[str, ItemStats] = {}
    tiers: dict[str, list[dict]] = {}
    points: dict[str, float] = {}
    for report in reports:
        if report.status != "graded":
            continue
        for item in report.items:
            s = stats.get(item.id)
            if s is None:
                s = stats[item.id] = ItemStats(item.id, item.title, item.kind, item.bonus, item.max_points,
                                               value_label=_value_label(item), thresholds=_thresholds(item))
                tiers[item.id] = item.tiers
                points[item.id] = 0.0
            s.graded += 1
            s.counts[item.status] = s.counts.get(item.status, 0) + 1
            points[item.id] += item.points
            value = numeric_value(item)
            if value is None:
                s.no_value += 1
                continue
            s.values.append(value)
            for threshold in s.thresholds:
                threshold.reached += _meets(item.kind, threshold, value, tiers[item.id])
    for s in stats.values():
        s.mean_points = round(points[s.id] / s.graded, 4) if s.graded else 0.0
    return list(stats.values())


def _value_label(item) -> str:
    return {"tests": "share of hidden tests passed", "param_count": "parameters",
            "file_present": "present"}.get(item.kind, "value")


def _failed_cases(item) -> list[str]:
    """The names of a tests item's failed cases: from the case outcomes the item recorded (any
    name a runner's @case or a rubric's declared case has), else read from its message."""
    if item.cases:
        return [case["name"] for case in item.cases if not case.get("passed")]
    names = []
    for part in item.message.split("; ")[1:]:
        m = _FAILED_TEST.match(part)
        # "...; AssertionError: ..." is a failure's text
        if m and not re.search(r"(Error|Exception|Warning)$", m["name"]):
            names.append(m["name"])
    return names


def failed_tests(reports: list, limit: int = 15) -> list[FailedTest]:
    """Hidden tests by how many graded submissions failed them, most first."""
    failures: dict[tuple[str, str], list[str]] = {}
    ran: Counter = Counter()
    for report in reports:
        if report.status != "graded":
            continue
        for item in report.items:
            if item.kind != "tests" or numeric_value(item) is None:
                continue
            ran[item.id] += 1
            for name in _failed_cases(item):
                failures.setdefault((item.id, name), []).append(report.stem)
    ranked = [FailedTest(item_id, test, len(set(stems)), ran[item_id], sorted(set(stems)))
              for (item_id, test), stems in failures.items()]
    ranked.sort(key=lambda f: (-f.failed, f.item_id, f.test))
    return ranked[:limit]


def _core_items(report) -> set[str]:
    """The items that carry their group: non-bonus, and worth the most in it (an ungrouped
    item is its own group)."""
    best: dict[str, float] = {}
    for item in report.items:
        if not item.bonus:
            key = item.group or f"item:{item.id}"
            best[key] = max(best.get(key, 0.0), item.max_points)
    return {item.id for item in report.items
            if not item.bonus and item.max_points > 0 and item.max_points == best[item.group or f"item:{item.id}"]}


def hidden_failures(reports: list) -> list[HiddenFailure]:
    """Graded submissions whose core item failed (no points) though the total did not show it:
    another item of its group scored instead, or the total reached full marks anyway."""
    found = []
    for report in reports:
        if report.status != "graded":
            continue
        core = _core_items(report)
        for item in report.items:
            if item.id not in core or item.status not in ("failed", "error"):
                continue
            reasons = []
            if item.group:
                counted = [o for o in report.items
                           if o.group == item.group and o.id != item.id and o.counted and o.points > 0]
                reasons += [f"group {item.group} counted {o.id} ({o.points:g}/{o.max_points:g} pts) instead"
                            for o in counted]
            if report.max_score and report.score >= report.max_score:
                reasons.append(f"the total {report.score:g}/{report.max_score:g} is full marks anyway (cap)")
            if reasons:
                value = "-" if item.value is None else (f"{item.value:.4f}" if isinstance(item.value, float)
                                                        else str(item.value))
                found.append(HiddenFailure(report.stem, report.student_id, report.name, item.id, item.status, value,
                                           "; ".join(reasons)))
    return found


def read_similarity(path: Path) -> list[SimilarPair]:
    """The pairs at or above the threshold from a `grader similarity` CSV; none when the file
    is absent or not one (the index page must render regardless)."""
    if not path.is_file():
        return []
    pairs = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("above_threshold") == "yes":
                    pairs.append(SimilarPair(int(row["rank"]), row["submission_a"], row["submission_b"],
                                             float(row["similarity"]), row.get("b_from_archive") == "yes"))
    except (OSError, ValueError, KeyError, TypeError, csv.Error):
        return []
    return pairs


def flagged(reports: list, similar: list[SimilarPair] = ()) -> list[Flagged]:
    """Submissions with flags (logs differ from the re-run, ...) or a similar pair."""
    by_stem: dict[str, Flagged] = {}
    for report in reports:
        if report.flags:
            by_stem[report.stem] = Flagged(report.stem, report.student_id, report.name, list(report.flags))
    known = {r.stem: r for r in reports}
    for pair in similar:
        for me, other, other_archive in ((pair.a, pair.b, pair.b_archive), (pair.b, pair.a, False)):
            if me not in known or (me == pair.b and pair.b_archive):
                continue
            r = known[me]
            entry = by_stem.setdefault(me, Flagged(r.stem, r.student_id, r.name, []))
            entry.reasons.append(f"similarity {pair.similarity:.2f} with {other}"
                                 + (" (earlier term)" if other_archive else ""))
            entry.similar_ranks.append(pair.rank)
    return sorted(by_stem.values(), key=lambda f: (f.student_id or "", f.stem))


def class_analytics(reports: list, similar: list[SimilarPair] = ()) -> ClassAnalytics:
    statuses = Counter(r.status for r in reports)
    graded = [r for r in reports if r.status == "graded"]
    return ClassAnalytics(
        submissions=len(reports), graded=len(graded), statuses=dict(statuses),
        scores=[r.score for r in graded], max_score=max((r.max_score for r in reports), default=0.0),
        items=item_stats(reports), failed_tests=failed_tests(reports), hidden_failures=hidden_failures(reports),
        flagged=flagged(reports, similar), similar_pairs=len(similar))
