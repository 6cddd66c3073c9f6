"""`grader package`: build studentID_name.zip in the layout the course requires."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from grader.commands.session import Session
from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.steps.intake import student_folder_files
from grader.steps.workspace import graded_files, unused_files

ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same files give the same zip
# How the shipped experiments state their seed: "seed: 2426", "seed 42", "'seed': 2426" in a Summary.
SEED_MENTION = re.compile(r"""\bseed\b['"]?\s*[:=]?\s*(\d+)""", re.IGNORECASE)


def log_seeds(text: str) -> set[int]:
    return {int(m) for m in SEED_MENTION.findall(text)}


def seed_mismatches(assignment: Assignment, folder: Path, student_id: str) -> list[str]:
    """Logs that say they were made with another seed than this student ID gives, one line each."""
    from grader.steps.pipeline import seed_for

    expected = seed_for(student_id, assignment.spec.seed)
    problems = []
    for log in sorted(assignment.output_files()):
        path = folder / log
        if not path.is_file():
            continue
        seeds = log_seeds(path.read_text(encoding="utf-8", errors="replace"))
        if seeds and expected not in seeds:
            problems.append(f"{log} was made with seed {', '.join(map(str, sorted(seeds)))}, "
                            f"but student ID {student_id} gives seed {expected}")
    return problems


def handed_in(assignment: Assignment, folder: Path) -> tuple[list[Path], list[str]]:
    """The files of the folder that go into the zip (those grading reads: the editable files, the
    logs), and one line per kind of file left out that the student may have meant to hand in
    (edited given files, files that are not part of the assignment). Unchanged given files, the
    handout's own files and an ungraded run's log are left out without a word, so no warning
    about them reaches the TA's gradebook."""
    files = student_folder_files(folder, assignment.spec.intake)
    rels = [p.relative_to(folder).as_posix() for p in files]
    used = graded_files(assignment, rels)
    changed, unknown = unused_files(assignment, rels, lambda rel: folder / rel, used)
    notes = []
    if changed:
        notes.append(f"left out {', '.join(changed)}: given files the grader replaces with its own copies "
                     f"(only {', '.join(assignment.spec.editable)} may be edited)")
    unknown = [rel for rel in unknown if not rel.endswith(".zip")]  # an earlier `grader package`'s zip
    if unknown:
        notes.append(f"left out {', '.join(unknown)}: not part of the assignment (the grader does not read them)")
    return [p for p, rel in zip(files, rels) if rel in used], notes


def package(assignment: Assignment, folder: Path, student_id: str, name: str, out_dir: Path,
            allow_missing: bool = False) -> Path:
    if not re.fullmatch(r"\d+", student_id):
        raise GraderError(f"student ID {student_id!r} must be digits only")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise GraderError(f"name {name!r} cannot be used in a file name")
    if not folder.is_dir():
        raise GraderError("not a folder", folder)
    files, _ = handed_in(assignment, folder)
    have = {p.relative_to(folder).as_posix() for p in files}
    missing = [r for r in assignment.spec.required if r not in have]
    if missing and not allow_missing:
        raise GraderError(f"missing required files: {', '.join(missing)} (run the experiments first)", folder)
    wrong_seed = seed_mismatches(assignment, folder, student_id)
    if wrong_seed:
        raise GraderError("; ".join(wrong_seed) + f": run ./run.sh {student_id} again", folder)
    total = sum(p.stat().st_size for p in files)
    limits = assignment.spec.intake
    if total > limits.max_bytes or len(files) > limits.max_files:
        raise GraderError(f"{len(files)} files, {total} bytes: over the limit of {limits.max_files} files "
                          f"or {limits.max_bytes} bytes; remove data and checkpoints", folder)
    stem = f"{student_id}_{name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{stem}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"{stem}/{path.relative_to(folder).as_posix()}", ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.flag_bits |= 0x800  # UTF-8 names, so non-ASCII student names survive any unzip tool
            archive.writestr(info, path.read_bytes())
    return target


def run(session: Session, assignment_id: str, student_id: str, name: str, folder: Path, out: Path) -> None:
    """`grader package`: write studentID_name.zip, say where and what was left out."""
    assignment = session.load(assignment_id)
    notes = handed_in(assignment, folder.resolve())[1]
    target = package(assignment, folder.resolve(), student_id, name, out)
    for note in notes:
        session.notice(note)
    session.console.print(f"wrote {target}")
