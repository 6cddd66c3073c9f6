"""The checker side of a hidden test: runs in the grader's process, never imports student code.

It reads the outputs a runner recorded in the sandbox (JSON data, read without following
links and with a size cap) and compares them, case by case, with the outputs the reference
solution gave through the same runner (grader/expected.py). A course may add a checker module
(`checker:` in the rubric item) with `check_<case>(got, expected)` functions for checks that
are not plain equality, and `HINTS`: a hint is shown only when the student's value is the
known wrong one it describes."""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from grader.course.spec import TestsItem
from grader.safe_fs import read_untrusted_bytes

OUTPUT_CAP = 50_000_000  # bytes of recorded outputs read back from a sandbox


class Outputs(dict):
    """One case's outputs: name -> numpy array, str, bool or None."""


@dataclass
class CaseRecord:
    outputs: Outputs | None = None
    error: str | None = None


@dataclass
class CaseOutcome:
    name: str
    passed: bool
    message: str = ""
    module: str = ""  # the runner file's stem


@dataclass
class HiddenTestsOutcome:
    cases: list[CaseOutcome] = field(default_factory=list)
    error: str | None = None


def _from_data(value):
    if isinstance(value, dict) and set(value) == {"array", "shape"}:
        flat = [float(v) for v in value["array"]]  # "nan", "inf" and "-inf" arrive as strings
        return np.asarray(flat, dtype=float).reshape([int(n) for n in value["shape"]])
    if isinstance(value, dict):
        return Outputs({str(k): _from_data(v) for k, v in value.items()})
    if isinstance(value, list):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return np.asarray(value, dtype=float)
        return [_from_data(v) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return np.asarray(float(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.asarray(float(value))
    return value


def parse_outputs(data: bytes) -> dict[str, CaseRecord]:
    """Recorded outputs, as the runner wrote them: {"runner::case": {"outputs": ...} | {"error": ...}}."""
    raw = json.loads(data.decode("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("recorded outputs are not a mapping")
    records: dict[str, CaseRecord] = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict):
            continue
        if "error" in entry:
            records[str(key)] = CaseRecord(error=str(entry["error"])[:500])
        else:
            outputs = _from_data(entry.get("outputs"))
            records[str(key)] = CaseRecord(outputs=outputs if isinstance(outputs, Outputs) else Outputs(value=outputs))
    return records


def load_outputs(path: Path, root: Path | None = None) -> dict[str, CaseRecord]:
    """Recorded outputs read back from a sandbox's folder (`root`, default the file's own):
    through safe_fs, never through a link, at most OUTPUT_CAP bytes."""
    return parse_outputs(read_untrusted_bytes(path, root, OUTPUT_CAP))


SOURCE_LINE_MIN = 8  # shorter lines of a runner ("return x") are too common to mean a leak
MESSAGE_WIDTH = 300  # characters of a message built from what a student's code raised or returned


def source_lines(sources) -> frozenset[str]:
    """The lines of what the hidden-test step runs (the runner files' text, declared cases
    included) that a student-visible message must never carry."""
    return frozenset(line.strip() for text in sources for line in text.splitlines()
                     if len(line.strip()) >= SOURCE_LINE_MIN)


def without_sources(text: str, lines: frozenset[str], width: int = MESSAGE_WIDTH) -> str:
    """A message built from a student's exception or output, as a student may see it: one line of
    at most `width` characters with every line of the runners' sources cut out. The runner kit
    removes the runner files before student code runs; this is the second wall, for a message
    forged in the recorded outputs."""
    text = " ".join(str(text).split("\n"))
    for line in sorted(lines, key=len, reverse=True):
        if line in text:
            text = text.replace(line, "[hidden-test source removed]")
    return text if len(text) <= width else text[:width - 3] + "..."


def fmt(value, digits: int = 6) -> str:
    """A short, readable rendering of a value for a message."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"{float(value):.{digits}g}"
        if value.size <= 8:
            return ("[" + ", ".join(f"{v:.{digits}g}" for v in value.ravel()) + "]"
                    + (f" (shape {value.shape})" if value.ndim > 1 else ""))
        return f"array of shape {value.shape}, mean {value.mean():.4g}"
    return repr(value)[:200]


def close(got, expected, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != expected.shape:
            return False
        return bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(expected, Outputs):
        return (isinstance(got, Outputs) and set(got) == set(expected)
                and all(close(got[k], expected[k], rtol, atol) for k in expected))
    if isinstance(expected, list):
        return (isinstance(got, list) and len(got) == len(expected)
                and all(close(g, e, rtol, atol) for g, e in zip(got, expected)))
    return got == expected


def compare(got: Outputs, expected: Outputs, rtol: float = 1e-4, atol: float = 1e-5, keys=None) -> str | None:
    """None when every expected output matches; else one message naming the first that differs."""
    for key in keys or expected:
        if key not in got:
            return f"{key}: no value recorded"
        if not close(got[key], expected[key], rtol, atol):
            g, e = got[key], expected[key]
            if isinstance(e, np.ndarray) and isinstance(g, np.ndarray) and g.shape != e.shape:
                return f"{key}: expected shape {e.shape}, got {g.shape}"
            return f"{key}: expected {fmt(e)}, got {fmt(g)}"
    return None


def load_checker(path: Path) -> ModuleType:
    """A course's checker module (trusted: it comes from the assignment folder, never a submission)."""
    spec = importlib.util.spec_from_file_location(f"grader_checker_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hint(checker: ModuleType | None, case: str, got: Outputs) -> str:
    """HINTS = {case: [(output, wrong value, hint)]}: shown only when the value is that wrong one."""
    for output, wrong, hint in getattr(checker, "HINTS", {}).get(case, []):
        value = got.get(output) if isinstance(got, Outputs) else None
        if isinstance(value, np.ndarray) and close(value, np.asarray(wrong, dtype=float), rtol=1e-4, atol=1e-4):
            return f" ({hint})"
    return ""


def check_case(name: str, got: CaseRecord | None, expected: CaseRecord, item: TestsItem,
               checker: ModuleType | None) -> CaseOutcome:
    if got is None:
        return CaseOutcome(name, False, "did not run")
    if got.error is not None:
        return CaseOutcome(name, False, f"raised {got.error}")
    custom = getattr(checker, f"check_{name}", None)
    try:
        problem = custom(got.outputs, expected.outputs) if custom else compare(got.outputs, expected.outputs,
                                                                               *item.case_tolerance(name))
    except Exception as exc:  # noqa: BLE001 - odd recorded data (a string for an array) fails the case, not the grader
        problem = f"outputs could not be compared ({type(exc).__name__}: {exc})"
    if problem:
        hint = _hint(checker, name, got.outputs) or (f" ({item.case_hint(name)})" if item.case_hint(name) else "")
        return CaseOutcome(name, False, problem + hint)
    return CaseOutcome(name, True)


def check_item(item: TestsItem, folder: Path, got: dict[str, CaseRecord], expected: dict[str, CaseRecord],
               hidden: frozenset[str] = frozenset()) -> HiddenTestsOutcome:
    """One rubric item's cases: every case the reference recorded for its runner file. No case
    message carries a line of `hidden` (source_lines of what the hidden-test step runs)."""
    stem = item.stem
    prefix = f"{stem}::"
    cases = {k[len(prefix):]: v for k, v in expected.items() if k.startswith(prefix) and not k.endswith("::*")}
    if not cases:
        return HiddenTestsOutcome(error=f"the reference recorded no case for {item.runner or item.id}")
    broken = [name for name, record in cases.items() if record.error]
    if broken:
        return HiddenTestsOutcome(error=f"the reference solution fails {stem}::{broken[0]}: {cases[broken[0]].error}")
    checker = load_checker(folder / item.checker) if item.checker else None
    load_error = got.get(f"{stem}::*")
    outcome = HiddenTestsOutcome()
    for name, reference in cases.items():
        record = got.get(prefix + name)
        if record is None and load_error is not None:
            record = CaseRecord(error=load_error.error)
        outcome.cases.append(check_case(name, record, reference, item, checker))
        outcome.cases[-1].module = stem
        outcome.cases[-1].message = without_sources(outcome.cases[-1].message, hidden)
    return outcome


def finite(value) -> bool:
    return isinstance(value, np.ndarray) and bool(np.all(np.isfinite(value)))


def scalar(value) -> float:
    """A recorded scalar as a float (NaN when it is not one)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value.ravel()[0])
    return math.nan
