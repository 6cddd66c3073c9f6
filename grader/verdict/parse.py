"""Step 4, parse: read the last `Summary: {...}` line of a log as data, never with eval.

Accepts plain floats and numpy reprs (`np.float64(0.55)`), which numpy >= 2 prints inside dicts.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path

from grader.safe_fs import read_text

SUMMARY_PREFIX = "Summary:"
NUMPY_SCALARS = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "float", "int", "bool_",
                 "bool"}
NAMED_CONSTANTS = {"nan": math.nan, "inf": math.inf, "NaN": math.nan, "Infinity": math.inf}


class SummaryError(ValueError):
    pass


@dataclass
class Summary:
    values: dict[str, float] | None
    error: str | None = None
    lines_found: int = 0
    curves: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.values is not None


def _number(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in NAMED_CONSTANTS:
        return NAMED_CONSTANTS[node.id]
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in NUMPY_SCALARS:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                try:
                    return float(arg.value)  # float('nan')
                except ValueError:
                    pass
            else:
                return _number(arg)
    raise SummaryError(f"value {ast.unparse(node)[:40]!r} is not a number")


def parse_summary_line(line: str) -> dict[str, float]:
    text = line.split(SUMMARY_PREFIX, 1)[1].strip()
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise SummaryError("the Summary line is not a dict literal") from None
    if not isinstance(tree, ast.Dict):
        raise SummaryError("the Summary line is not a dict literal")
    values: dict[str, float] = {}
    for key, value in zip(tree.keys, tree.values):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise SummaryError("the Summary dict has a key that is not a string")
        values[key.value] = _number(value)
    return values


def parse_summary_text(text: str) -> Summary:
    lines = [ln for ln in text.splitlines() if ln.lstrip().startswith(SUMMARY_PREFIX)]
    if not lines:
        return Summary(None, "no 'Summary: {...}' line in the log")
    try:
        return Summary(parse_summary_line(lines[-1].lstrip()), lines_found=len(lines))
    except SummaryError as exc:
        return Summary(None, f"malformed Summary line: {exc}", lines_found=len(lines))


def parse_curves(text: str) -> dict[str, list[float]]:
    """Training curves from lines such as `Curve: {'train_loss': 0.69, 'step': 10}` (for plots)."""
    curves: dict[str, list[float]] = {}
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped.startswith("Curve:"):
            continue
        try:
            point = parse_summary_line(stripped.replace("Curve:", SUMMARY_PREFIX, 1))
        except SummaryError:
            continue
        for key, value in point.items():
            curves.setdefault(key, []).append(value)
    return curves


def parse_log(path: Path, root: Path | None = None) -> Summary:
    """The Summary and curves of a log in a folder a sandbox wrote (`root`, default the log's
    own folder): read only if it is a regular file reached without links, at most
    safe_fs.READ_CAP bytes (a link to /dev/zero or a FIFO is refused, never read)."""
    try:
        text = read_text(path, root)
    except FileNotFoundError:
        return Summary(None, f"log {path.name} was not written")
    except OSError as exc:
        return Summary(None, f"log {path.name} cannot be read: {exc.strerror or exc}")
    summary = parse_summary_text(text)
    summary.curves = parse_curves(text)
    return summary
