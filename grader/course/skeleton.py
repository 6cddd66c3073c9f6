"""Skeleton generation: solutions/<id> -> skeleton/<id>, replacing marked solution code by
TODO stubs that raise NotImplementedError. Works on .py files and on notebooks' code cells.

Markers (in Python source or code cells):
    # BEGIN SOLUTION: optional hint shown to the student
    ...solution code...
    # END SOLUTION
and a one-line form:  `value = compute()  # SOLUTION: optional hint`
"""

from __future__ import annotations

import filecmp
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from grader.errors import GraderError

BEGIN = re.compile(r"^(?P<indent>\s*)#\s*BEGIN SOLUTION\b:?\s*(?P<hint>.*)$")
END = re.compile(r"^\s*#\s*END SOLUTION\b")
ONE_LINE = re.compile(r"^(?P<indent>\s*)(?P<code>\S.*?)\s*#\s*SOLUTION\b:?\s*(?P<hint>.*)$")
SKIP_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", "data_cache", ".grader"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
LEAK_MIN_CHARS = 12
NOTEBOOK_METADATA_KEPT = {"kernelspec", "language_info"}
CELL_METADATA_KEPT = {"tags"}


class MarkerError(GraderError):
    pass


# run.sh: an assignment's run.sh sources the grader's common part (seed from the ID, arguments,
# experiment selection, thread settings, `run LOG ARGS...`); the skeleton's run.sh holds it in
# place of that line, so a handout's run.sh stands alone.
RUN_COMMON = Path(__file__).with_name("run_common.sh")
SOURCE_RUN_COMMON = re.compile(r"^(?:source|\.) [^\n]*\brun_common\.sh\b[^\n]*$", re.MULTILINE)


RUN_COMMON_THREADS = 'threads="${threads:-2}"'  # run_common.sh's line: the grader's default thread count


def inline_run_common(text: str, threads: int = 2) -> str:
    """run.sh with its `source .../run_common.sh` line replaced by the grader's common part, which
    exports the assignment's thread count (SandboxLimits.thread_count), as the grader gives a step."""
    lines = RUN_COMMON.read_text(encoding="utf-8").rstrip("\n").splitlines()
    while lines and lines[0].startswith("#"):  # its own header speaks to course authors, not to students
        lines.pop(0)
    common = "\n".join(lines).replace(RUN_COMMON_THREADS, f'threads="${{threads:-{threads}}}"')
    return SOURCE_RUN_COMMON.sub(lambda _: f"# --- written by grader build from grader/course/run_common.sh ---\n"
                                           f"{common}\n# --- end of the common part ---", text, count=1)


def _stub(indent: str, hint: str, where: str) -> list[str]:
    hint = hint.strip() or "implement this part"
    message = f"TODO ({where}): {hint}"
    return [f"{indent}# TODO: {hint}", f"{indent}raise NotImplementedError({message!r})"]


def strip_source(text: str, where: str) -> tuple[str, list[str]]:
    """Return the stubbed text and the solution lines it removed."""
    out: list[str] = []
    removed: list[str] = []
    block_start: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if block_start is not None:
            if END.match(line):
                block_start = None
            elif BEGIN.match(line):
                raise MarkerError(f"line {number}: BEGIN SOLUTION inside the block opened at line {block_start}", where)
            else:
                removed.append(line)
            continue
        if m := BEGIN.match(line):
            block_start = number
            out.extend(_stub(m["indent"], m["hint"], where))
        elif END.match(line):
            raise MarkerError(f"line {number}: END SOLUTION without BEGIN SOLUTION", where)
        elif (m := ONE_LINE.match(line)) and not line.lstrip().startswith("#"):
            removed.append(m["code"])
            out.extend(_stub(m["indent"], m["hint"], where))
        else:
            out.append(line)
    if block_start is not None:
        raise MarkerError(f"line {block_start}: BEGIN SOLUTION is never closed", where)
    return "\n".join(out) + ("\n" if text.endswith("\n") else ""), removed


def strip_markers(text: str) -> str:
    """The solution as plain code: marker comments removed, solution code kept."""
    kept = []
    for line in text.splitlines():
        if BEGIN.match(line) or END.match(line):
            continue
        if (m := ONE_LINE.match(line)) and not line.lstrip().startswith("#"):
            line = m["indent"] + m["code"]
        kept.append(line)
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def _map_code_cells(text: str, change) -> str:
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = change(cell.source)
    return nbformat.writes(nb) + "\n"


def plain_solution(text: str, name: str) -> str:
    """strip_markers for a .py file, or for each code cell of a notebook (keeps it valid JSON)."""
    return _map_code_cells(text, strip_markers) if name.endswith(".ipynb") else strip_markers(text)


def count_in_source(text: str, name: str, old: str) -> int:
    if name.endswith(".ipynb") and text.strip():
        return sum(c.source.count(old) for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "code")
    return text.count(old)


def replace_in_source(text: str, name: str, old: str, new: str) -> str:
    """Replace in a .py file's text, or in a notebook's code cells (the text a course author sees)."""
    if name.endswith(".ipynb"):
        return _map_code_cells(text, lambda source: source.replace(old, new))
    return text.replace(old, new)


def _check_no_leak(original_kept: str, generated: str, removed: list[str], where: str) -> None:
    kept_lines = {ln.strip() for ln in original_kept.splitlines()}
    generated_lines = {ln.strip() for ln in generated.splitlines()}
    for line in removed:
        s = line.strip()
        if len(s) >= LEAK_MIN_CHARS and s in generated_lines and s not in kept_lines:
            raise MarkerError(f"solution text would leak into the skeleton: {s[:60]!r}", where)


def strip_python(text: str, where: str) -> str:
    generated, removed = strip_source(text, where)
    unmarked = "\n".join(ln for ln in text.splitlines() if ln.strip() not in {r.strip() for r in removed})
    _check_no_leak(unmarked, generated, removed, where)
    return generated


def strip_notebook(text: str, where: str) -> str:
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in CELL_METADATA_KEPT}
        if cell.cell_type == "code":
            cell.source = strip_python(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in NOTEBOOK_METADATA_KEPT}
    return nbformat.writes(nb) + "\n"


def _source_files(solution_dir: Path, exclude: set[str]) -> list[Path]:
    files = []
    for path in sorted(solution_dir.rglob("*")):
        rel = path.relative_to(solution_dir)
        if any(p in SKIP_NAMES for p in rel.parts) or path.suffix in SKIP_SUFFIXES or not path.is_file():
            continue
        if rel.as_posix() in exclude:
            continue
        files.append(path)
    return files


def generate(solution_dir: Path, dest: Path, exclude: set[str] = frozenset(),
             written: dict[str, str] | None = None, threads: int = 2) -> list[str]:
    """Write the skeleton of `solution_dir` into `dest` (replaced whole); return the files written.
    `written`: files the grader writes itself ({relative path: text}, e.g. requirements.txt); a
    solution may not hold its own copy of one."""
    if not solution_dir.is_dir():
        raise GraderError("solution folder not found", solution_dir)
    written = dict(written or {})
    for rel in written:
        if (solution_dir / rel).exists():
            raise GraderError(f"{rel} is written by grader build: remove it from the solution "
                              "(an assignment's extra packages go under requirements: in assignment.yaml)",
                              solution_dir / rel)
    if dest.exists():
        shutil.rmtree(dest)
    files = []
    for path in _source_files(solution_dir, set(exclude)):
        rel = path.relative_to(solution_dir)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if path.suffix == ".py":
                target.write_text(strip_python(path.read_text(encoding="utf-8"), rel.as_posix()), encoding="utf-8")
            elif path.suffix == ".ipynb":
                target.write_text(strip_notebook(path.read_text(encoding="utf-8"), rel.as_posix()), encoding="utf-8")
        except MarkerError as exc:
            raise MarkerError(str(exc).split(": ", 1)[1], path) from None
        if rel.as_posix() == "run.sh":
            target.write_text(inline_run_common(path.read_text(encoding="utf-8"), threads), encoding="utf-8")
        elif path.suffix not in (".py", ".ipynb"):
            shutil.copyfile(path, target)
        shutil.copymode(path, target)
        files.append(rel.as_posix())
    for rel, text in written.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")
        files.append(rel)
    return files


def differences(expected: Path, actual: Path) -> list[str]:
    """Paths (relative) where two trees differ, ignoring caches."""
    def listing(root: Path) -> set[str]:
        if not root.is_dir():
            return set()
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                and not any(part in SKIP_NAMES for part in p.relative_to(root).parts) and p.suffix not in SKIP_SUFFIXES}
    want, have = listing(expected), listing(actual)
    diff = [f"missing {p}" for p in sorted(want - have)] + [f"extra {p}" for p in sorted(have - want)]
    diff += [f"differs {p}" for p in sorted(want & have) if not filecmp.cmp(expected / p, actual / p, shallow=False)]
    return diff


def check_in_sync(solution_dir: Path, skeleton_dir: Path, exclude: set[str] = frozenset(),
                  written: dict[str, str] | None = None, threads: int = 2) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="grader-build-") as tmp:
        generated = Path(tmp) / "skeleton"
        generate(solution_dir, generated, exclude, written, threads)
        return differences(generated, skeleton_dir)
