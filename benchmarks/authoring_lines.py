"""Hand-written lines per assignment: what a course author writes and keeps, by kind.

    python benchmarks/authoring_lines.py                 # the working tree
    python benchmarks/authoring_lines.py --rev 338e3ef   # a commit (read through `git archive`)

Counted (non-blank lines): the solution's given code (every file in solutions/<id> that is not
editable and not its README: evaluate.py, data modules, run.sh, requirements.txt, ...), the YAML
(assignments/<id>/assignment.yaml and rubrics/<id>.yaml; calibration.yaml is written by `grader
calibrate`, so it is left out), and the hidden tests' runner and checker files
(assignments/<id>/hidden_tests/*.py). Links (solutions/<id>/mnist_family.py -> _shared) are not
counted per assignment; solutions/_shared is one row of its own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GIVEN_SUFFIXES = {".py", ".sh", ".txt"}


def lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())


def count(root: Path) -> dict[str, dict[str, int]]:
    rows = {}
    for spec_path in sorted((root / "assignments").glob("*/assignment.yaml")):
        assignment_id = spec_path.parent.name
        solution = root / "solutions" / assignment_id
        if not solution.is_dir():
            continue
        editable = set(yaml.safe_load(spec_path.read_text())["editable"])
        given = sum(lines(p) for p in sorted(solution.rglob("*"))
                    if p.is_file() and not p.is_symlink() and p.suffix in GIVEN_SUFFIXES
                    and p.relative_to(solution).as_posix() not in editable and "__pycache__" not in p.parts)
        yaml_lines = lines(spec_path) + (lines(root / "rubrics" / f"{assignment_id}.yaml")
                                         if (root / "rubrics" / f"{assignment_id}.yaml").is_file() else 0)
        tests = sum(lines(p) for p in sorted((spec_path.parent / "hidden_tests").glob("*.py")))
        rows[assignment_id] = {"given": given, "yaml": yaml_lines, "tests": tests}
    shared = root / "solutions" / "_shared"
    if shared.is_dir():
        rows["_shared"] = {"given": sum(lines(p) for p in sorted(shared.rglob("*")) if p.is_file()),
                           "yaml": 0, "tests": 0}
    return rows


def checkout(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "solutions", "assignments", "rubrics"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="tar")
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="a git revision instead of the working tree")
    parser.add_argument("--root", type=Path, default=REPO, help="a course root (default: this repository)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = checkout(args.rev, Path(tmp)) if args.rev else args.root
        rows = count(root)
    print(f"{'assignment':<16}{'given':>7}{'yaml':>7}{'tests':>7}{'total':>7}")
    totals = {"given": 0, "yaml": 0, "tests": 0}
    for name, row in rows.items():
        for key in totals:
            totals[key] += row[key]
        print(f"{name:<16}{row['given']:>7}{row['yaml']:>7}{row['tests']:>7}{sum(row.values()):>7}")
    print(f"{'all':<16}{totals['given']:>7}{totals['yaml']:>7}{totals['tests']:>7}{sum(totals.values()):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
