"""`grader similarity`: compare the students' editable files pairwise and write a ranked HTML
report and a CSV of every pair. Reads submissions through the grader's intake (the same zip
checks as grading) and never writes a report.json or grades.csv."""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from grader.commands.session import Session
from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.reports.analytics import SIMILARITY_COLUMNS, SIMILARITY_CSV, SIMILARITY_HTML
from grader.reports.report import PAGES
from grader.reports.similarity import (
    GUARANTEE_TOKENS,
    NOISE_TOKENS,
    Document,
    PairScore,
    UnreadableCode,
    code_of,
    compare_documents,
    file_matches,
    fingerprint_documents,
    pairs_to_compare,
    worker_pool,
)
from grader.steps.intake import open_submission
from grader.steps.naming import parse_stem, submission_stem
from grader.steps.workspace import _find_submitted


@dataclass
class Source:
    path: Path
    archive: bool = False
    student_id: str | None = None  # from a graded report, when the name does not carry it


@dataclass
class SimilarityResult:
    documents: list[Document]
    pairs: list[PairScore]
    threshold: float
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    notes: list[str] = field(default_factory=list)
    csv_path: Path | None = None
    html_path: Path | None = None

    def above(self) -> list[PairScore]:
        return [p for p in self.pairs if p.similarity >= self.threshold and p.similarity > 0]


# ----------------------------------------------------------------------------- finding submissions

def _graded_reports(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/report.json"))


def assignment_hint(paths: list[Path]) -> str | None:
    """The assignment a graded --out folder among `paths` was graded for; every path must exist."""
    for path in paths:
        if not path.exists():
            raise GraderError("no such file or folder", path)
    for path in paths:
        if path.is_dir():
            for report in _graded_reports(path):
                try:
                    return json.loads(report.read_text(encoding="utf-8"))["assignment"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
    return None


def _is_submission(source: Path) -> bool:
    return source.suffix.lower() == ".zip" or (source.is_dir() and parse_stem(source.name) is not None)


def _expand(path: Path, assignment: Assignment, archive: bool, skipped: list[tuple[str, str]],
            depth: int = 0) -> list[Source]:
    if path.is_file() or path.is_symlink():
        return [Source(path, archive)]
    reports = _graded_reports(path)
    if reports:
        found = []
        for report_path in reports:
            try:
                report = json.loads(report_path.read_text(encoding="utf-8"))
                source = Path(report["source"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                skipped.append((str(report_path), f"unreadable report ({type(exc).__name__})"))
                continue
            if not source.exists():
                skipped.append((str(source), f"the submission graded in {report_path.parent} is no longer there"))
                continue
            found.append(Source(source, archive, report.get("student_id")))
        return found
    if parse_stem(path.name) or any((path / rel).is_file() for rel in assignment.spec.editable):
        return [Source(path, archive)]
    found = [Source(child, archive) for child in sorted(path.iterdir()) if _is_submission(child)]
    if depth < 2:  # an archive may keep one folder per term
        for child in sorted(path.iterdir()):
            if child.is_dir() and not child.is_symlink() and not _is_submission(child):
                found += _expand(child, assignment, archive, skipped, depth + 1)
    return found


def find_sources(paths: list[Path], against: list[Path],
                 assignment: Assignment) -> tuple[list[Source], list[tuple[str, str]], list[str]]:
    """Submissions to compare (current ones first, then the archive), the sources skipped with
    the reason, and notes (a student's earlier submission dropped in favour of the latest)."""
    skipped: list[tuple[str, str]] = []
    current: list[Source] = []
    archived: list[Source] = []
    for path, archive in [(p, False) for p in paths] + [(p, True) for p in against]:
        if not path.exists():
            raise GraderError("no such file or folder", path)
        skipped_before = len(skipped)
        found = _expand(path, assignment, archive, skipped)
        if not found and len(skipped) == skipped_before:
            raise GraderError("no submissions found (zips, studentID_name folders or a graded --out folder)", path)
        (archived if archive else current).extend(found)
    current, notes = _latest_per_student(_unique(current))
    return current + _unique(archived), skipped, notes


def _unique(sources: list[Source]) -> list[Source]:
    seen: set[Path] = set()
    kept = []
    for source in sources:
        key = source.path.resolve()
        if key not in seen:
            seen.add(key)
            kept.append(source)
    return kept


def _latest_per_student(sources: list[Source]) -> tuple[list[Source], list[str]]:
    """As grading does: of two submissions of one student ID, the newest file counts."""
    by_id: dict[str, list[Source]] = {}
    for source in sources:
        parsed = parse_stem(submission_stem(source.path))
        sid = source.student_id or (parsed[0] if parsed else None)
        if sid:
            by_id.setdefault(sid, []).append(source)
    dropped: set[int] = set()
    notes = []
    for sid, group in by_id.items():
        if len(group) > 1:
            group.sort(key=lambda s: (s.path.stat().st_mtime, s.path.name))
            dropped.update(id(s) for s in group[:-1])
            notes.append(f"student {sid} submitted {len(group)} times; compared the latest ({group[-1].path.name})")
    return [s for s in sources if id(s) not in dropped], notes


# ----------------------------------------------------------------------------- reading

def read_document(source: Source, assignment: Assignment) -> Document:
    """The editable files of one submission, through the grader's intake (the same checks
    as grading); raises GraderError or UnreadableCode for one that cannot be read."""
    stem = submission_stem(source.path)
    student_id = source.student_id or (None if parse_stem(stem) else stem)
    with tempfile.TemporaryDirectory(prefix="grader-similarity-") as tmp:
        submission = open_submission(source.path, Path(tmp) / "submitted", assignment.spec.intake, student_id)
        files = {}
        for rel in assignment.spec.editable:
            found = _find_submitted(submission, rel)
            if found is not None:
                files[rel] = code_of(rel, submission.path_of(found).read_bytes())
    if not files:
        raise UnreadableCode(f"holds none of the editable files ({', '.join(assignment.spec.editable)})")
    return Document(key=stem, student_id=submission.student_id, name=submission.name, source=str(source.path),
                    files=files, archive=source.archive)


def skeleton_code(assignment: Assignment) -> dict[str, str]:
    """The given version of each editable file: boilerplate that never counts."""
    code = {}
    for rel in assignment.spec.editable:
        path = assignment.skeleton_dir / rel
        if path.is_file():
            code[rel] = code_of(rel, path.read_bytes())
    return code


def _unique_keys(documents: list[Document]) -> None:
    """Two sources with one stem (this term and an archive) stay apart in the report."""
    seen: dict[str, int] = {}
    for d in documents:
        n = seen.get(d.key, 0)
        seen[d.key] = n + 1
        if n:
            d.key = f"{d.key} ({n + 1})"


# ----------------------------------------------------------------------------- writing

def write_csv(result: SimilarityResult, path: Path) -> Path:
    docs = result.documents
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SIMILARITY_COLUMNS)
        for rank, p in enumerate(result.pairs, 1):
            a, b = docs[p.a], docs[p.b]
            writer.writerow([rank, a.key, a.student_id or "", a.name or "", b.key, b.student_id or "", b.name or "",
                             "yes" if b.archive else "no", f"{p.similarity:.4f}", f"{p.similarity_a:.4f}",
                             f"{p.similarity_b:.4f}", p.matched_a, p.matched_b,
                             "yes" if p.similarity >= result.threshold and p.similarity > 0 else "no"])
    return path


def write_html(result: SimilarityResult, fingerprints: list[dict], path: Path, assignment: Assignment,
               top: int) -> Path:
    docs = result.documents
    above = result.above()
    shown = [{"rank": n, "pair": p, "a": docs[p.a], "b": docs[p.b],
              "files": file_matches(docs[p.a], docs[p.b], fingerprints[p.a], fingerprints[p.b])}
             for n, p in enumerate(above[:top], 1)]
    html = PAGES.get_template("similarity.html.j2").render(
        assignment=assignment.id, shown=shown, above=len(above), threshold=result.threshold,
        current=sum(not d.archive for d in docs), archived=sum(d.archive for d in docs), compared=len(result.pairs),
        skipped=result.skipped, notes=result.notes, noise=NOISE_TOKENS, guarantee=GUARANTEE_TOKENS,
        csv_name=SIMILARITY_CSV)
    path.write_text(html, encoding="utf-8")
    return path


def refresh_index(out: Path, console: Console) -> bool:
    """A graded --out folder: rewrite its index page so the class analytics flag the similar
    pairs. Reports and grades.csv are read, never written."""
    gradebook = out / "grades.csv"
    if not gradebook.is_file():
        return False
    from grader.reports.report import load_report, write_index

    try:
        with open(gradebook, newline="", encoding="utf-8") as f:
            stems = [row["submission"] for row in csv.DictReader(f)]
        reports = [load_report(out / stem / "report.json") for stem in stems if (out / stem / "report.json").is_file()]
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[yellow]index.html not refreshed[/]: {escape(str(gradebook))}: {escape(str(exc)[:200])}")
        return False
    write_index(reports, out)
    return True


# ----------------------------------------------------------------------------- the command

def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True)


def run_similarity(paths: list[Path], assignment: Assignment, out: Path, *, against: list[Path] = (),
                   threshold: float = 0.5, top: int = 200, jobs: int = 2,
                   console: Console | None = None) -> SimilarityResult:
    console = console or Console(quiet=True)
    sources, skipped, notes = find_sources(list(paths), list(against), assignment)
    documents: list[Document] = []
    with _progress(console) as progress:
        task = progress.add_task("reading submissions", total=len(sources))
        for source in sources:
            try:
                documents.append(read_document(source, assignment))
            except (GraderError, UnreadableCode, OSError) as exc:
                reason = str(exc).removeprefix(f"{source.path}: ")
                skipped.append((str(source.path), reason))
                progress.console.print(f"[yellow]skipped[/] {escape(str(source.path))}: {escape(reason)}")
            progress.advance(task)
    if sum(not d.archive for d in documents) < (1 if any(d.archive for d in documents) else 2):
        raise GraderError(f"need at least two readable submissions to compare (or one and --against); "
                          f"read {len(documents)}, skipped {len(skipped)}")
    _unique_keys(documents)
    skeleton = skeleton_code(assignment)
    with worker_pool(jobs) as pool, _progress(console) as progress:
        task = progress.add_task("fingerprinting", total=sum(len(d.files) for d in documents))
        fingerprints = fingerprint_documents(pool, documents, skeleton, lambda n: progress.advance(task, n))
        pairs_task = progress.add_task("comparing pairs", total=len(pairs_to_compare(documents)))
        pairs = compare_documents(pool, documents, fingerprints, lambda n: progress.advance(pairs_task, n))
    result = SimilarityResult(documents, pairs, threshold, skipped, notes)
    out.mkdir(parents=True, exist_ok=True)
    result.csv_path = write_csv(result, out / SIMILARITY_CSV)
    result.html_path = write_html(result, fingerprints, out / SIMILARITY_HTML, assignment, top)
    refreshed = refresh_index(out, console)
    print_top(result, console)
    console.print(f"wrote {result.html_path} and {result.csv_path}"
                  + (f"; refreshed {out / 'index.html'}" if refreshed else ""))
    return result


def print_top(result: SimilarityResult, console: Console, limit: int = 10) -> None:
    above = result.above()
    console.print(f"{len(result.documents)} submissions, {len(result.pairs)} pairs compared, "
                  f"{len(above)} at or above similarity {result.threshold:g}")
    if not above:
        return
    table = Table(title="Most similar pairs", header_style="bold")
    for column in ("rank", "submission", "other", "similarity", "shares"):
        table.add_column(column, overflow="fold")
    for rank, p in enumerate(above[:limit], 1):
        a, b = result.documents[p.a], result.documents[p.b]
        table.add_row(str(rank), escape(a.key), escape(b.key) + (" (archive)" if b.archive else ""),
                      f"{p.similarity:.2f}", f"{p.similarity_a:.2f} / {p.similarity_b:.2f}")
    console.print(table)


def run(session: Session, sources: tuple[Path, ...], assignment_id: str | None, against: tuple[Path, ...],
        threshold: float, top: int, out: Path, jobs: int) -> int:
    """`grader similarity`; exit code 1 when some submissions could not be read (they are listed)."""
    hint = assignment_hint(list(sources) + list(against))
    assignment = session.pick_assignment(assignment_id or hint, list(sources))
    result = run_similarity(list(sources), assignment, out, against=list(against), threshold=threshold, top=top,
                            jobs=jobs, console=session.console)
    return 1 if result.skipped else 0
