"""The runner side of a hidden test: runs in the sandbox, beside the student's code.

A runner file (assignments/<id>/hidden_tests/*.py) defines cases with `@case`; each calls student
code on inputs the course chose and returns what came out (numbers, arrays, tensors, strings).
This module records those outputs as JSON data and nothing else: no verdict is made here. The
grader's checker (grader/verdict/checker.py, outside the sandbox) compares them with the outputs of the
reference solution run through the same runner. A student may read or even rewrite this module
at run time; all it can change is data that the checker then compares with values it never
sees.

    python -m grader.inside.runner_kit OUT.json RUNNER.py [RUNNER.py ...]
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import traceback
from pathlib import Path

from grader.inside.quick_exit import quick_exit

_registry: list = []
CASE_SEED = 20260101  # every case starts from the same random state, for the student and the reference


def case(fn):
    """Marks a function of a runner file as one hidden test case."""
    _registry.append(fn)
    return fn


def to_data(value, depth: int = 0):
    """Outputs as plain JSON: {"array": [...], "shape": [...]} for arrays and tensors."""
    if depth > 20:
        raise ValueError("outputs nested too deeply")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch here
        value = value.detach().cpu()
        value = value.double().numpy() if value.is_floating_point() else value.numpy()
    if type(value).__module__ == "numpy":
        import numpy as np

        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return {"array": [_finite_or_tag(v) for v in array.astype(float).ravel().tolist()],
                    "shape": list(array.shape)}
        return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _finite_or_tag(value)
    if isinstance(value, str):
        return value[:10_000]
    if isinstance(value, dict):
        return {str(k): to_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v, depth + 1) for v in value]
    if value is None:
        return None
    return f"<{type(value).__name__}>"


def _finite_or_tag(v: float):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _reseed() -> None:
    random.seed(CASE_SEED)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(CASE_SEED)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(CASE_SEED)


def _describe(exc: BaseException) -> str:
    """One line: the exception and where in the student's files it was raised."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__} ({Path(exc.filename).name}:{exc.lineno}): {exc.msg}"
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if ".grader" not in Path(frame.filename).parts and "site-packages" not in frame.filename:
            where = f" ({Path(frame.filename).name}:{frame.lineno})"
            break
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}{where}" + (f": {text[0][:300]}" if text else "")


def take_runners(runners: list[Path]) -> list[tuple[Path, object]]:
    """Each runner file compiled (or the error that stopped it), then removed from the workspace,
    all before any student code is imported: a student's function finds no runner file to read
    and raise as its message, and no source text stays in this process (only code objects)."""
    taken: list[tuple[Path, object]] = []
    for runner in runners:
        try:
            taken.append((runner, compile(runner.read_bytes(), str(runner), "exec")))
        except BaseException as exc:  # noqa: BLE001 - a runner that cannot compile fails only its own cases
            taken.append((runner, exc))
        try:
            runner.unlink()
        except OSError:
            pass
    for folder in {runner.parent for runner in runners}:
        try:
            folder.rmdir()
        except OSError:
            pass
    return taken


def run(out: Path, runners: list[Path]) -> None:
    # Run as `python -m grader.inside.runner_kit`, this module is __main__: runner files that import
    # grader.inside.runner_kit must register their cases here, not in a second copy.
    sys.modules.setdefault("grader.inside.runner_kit", sys.modules[__name__])
    compiled = take_runners(runners)
    sys.path.insert(0, os.getcwd())  # the student's modules, as in a normal run
    results: dict[str, dict] = {}

    def save() -> None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(results))
        os.replace(tmp, out)

    for runner, code in compiled:
        _registry.clear()
        try:
            if isinstance(code, BaseException):
                raise code
            exec(code, {"__name__": "probe_runner", "__file__": str(runner), "__builtins__": __builtins__})
        except BaseException as exc:  # noqa: BLE001 - a runner that cannot load fails its cases, not the others
            results[f"{runner.stem}::*"] = {"error": _describe(exc)}
            save()
            continue
        for fn in list(_registry):
            key = f"{runner.stem}::{fn.__name__}"
            _reseed()
            try:
                results[key] = {"outputs": to_data(fn())}
            except BaseException as exc:  # noqa: BLE001 - SystemExit and the like are failures of this case
                results[key] = {"error": _describe(exc)}
            save()  # after every case: a crash later keeps what ran
    save()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    run(Path(args[0]), [Path(a) for a in args[1:]])


if __name__ == "__main__":
    main()
    # Once the outputs are saved, the process ends without the interpreter's teardown (1.2-1.4 s
    # with torch's CUDA build, more than most test steps' cases); threads the student's code left
    # running were never part of the outputs.
    quick_exit(0)
