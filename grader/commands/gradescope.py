"""`grader gradescope`: the autograder bundle that runs the same rubric on Gradescope (setup.sh,
run_autograder, the grader and the course data, never the solutions), and the entry point that
grades the one submission of a Gradescope run (`python -m grader.commands.gradescope`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from grader.commands.session import Session
from grader.course import calibration
from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.reports.gradescope import results_json
from grader.sandbox.image import TORCH_PINS
from grader.sandbox.local import LocalSandbox
from grader.steps import hidden_tests
from grader.steps.naming import parse_stem, submission_stem

UV_VERSION = "0.13.8"
STUDENT_ACCOUNT = "grader-student"

# torch from PyTorch's CPU wheel index when it answers, else PyPI: run.sh sources it, setup.sh carries it.
TORCH_CPU_SH = (Path(__file__).resolve().parent / "torch_cpu.sh").read_text(encoding="utf-8")
GRADESCOPE_MAX_MINUTES = 40  # the longest autograder timeout Gradescope allows
# Gradescope's machines against the 2-core development VM the figures below were measured on, and
# a cold start (the first torch import from disk): the stated timeout is this many times the
# measured wall time of grading the reference, plus START_MINUTES.
TIMEOUT_MARGIN = 3
START_MINUTES = 3


@dataclass(frozen=True)
class Measured:
    """One reference submission graded (local backend, idle 2-core VM), from docs/benchmarks.md."""
    wall_s: float  # grading in all, the steps Gradescope runs per submission (assets included)
    peak_mb: int  # the largest resident peak of one process
    source: str


MEASURED = {  # a fresh container: the preloaded interpreter's start and a worker's first submission
    "colored_mnist": Measured(3.6 + 66.1, 877, "benchmarks/trust_cost.py, 2026-12-01"),
    "channel_shift": Measured(1.4 + 36.0, 857, "benchmarks/trust_cost.py, 2026-12-01"),
    "cnn_transfer": Measured(2.5 + 33.5, 883, "benchmarks/trust_cost.py, 2026-12-01"),
    # Plus about 45 s to build the judge classifier, which every fresh Gradescope container builds.
    "cvae_ood": Measured(2.6 + 109.3 + 45, 868, "benchmarks/trust_cost.py, 2026-12-01, judge build included"),
}


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image. Its base images are
# Ubuntu with Python 3.10 or newer; the pinned wheels (numpy 2.4, torch 2.14) need Python 3.11,
# so where the system's is older, uv installs a standalone CPython 3.11 for the grader's venv.
set -euo pipefail
root=/autograder
src=$root/source
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip ca-certificates >/dev/null
if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  python3 -m venv $root/venv
else
  python3 -m pip install uv==%(uv)s || python3 -m pip install --break-system-packages uv==%(uv)s
  export UV_PYTHON_INSTALL_DIR=/opt/grader-python   # outside /root, so the student account can run it
  python3 -m uv python install 3.11
  python3 -m uv venv --seed --python 3.11 $root/venv
fi
# No `test` extra: pytest, jsonschema and ruff are the grader's own tests, never run here. Torch
# from PyTorch's CPU wheel index when it answers (no CUDA libraries: gigabytes and minutes of an
# image that has no GPU), else from PyPI; pip shows its progress, the build takes minutes.
# The same probe and fallback as the grader's own run.sh (grader/commands/torch_cpu.sh):
%(torch_cpu)s
export PIP_PROGRESS_BAR=off
echo "== installing torch (CPU build) and the grader"
install_cpu_torch $root/venv/bin/python %(torch)s
$root/venv/bin/python -m pip install "$src/grader_src[ml]"
mkdir -p $root/data
if apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; then
  echo "Fashion-MNIST installed from the distribution's package"
else
  echo "dataset-fashion-mnist is not packaged here: copy the data into $root/data (see README.md)"
fi
if [ -d "$src/data" ]; then cp -r "$src/data/." $root/data/; fi
# Student code runs as this account: it can read the interpreter, the libraries and the data,
# never $src (hidden tests, rubric thresholds, the assignment's settings).
id %(account)s >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin %(account)s
chown -R root:root $src
chmod 700 $src
chmod -R a+rX $root/venv $root/data
if [ -d /opt/grader-python ]; then chmod -R a+rX /opt/grader-python; fi
""" % {"uv": UV_VERSION, "account": STUDENT_ACCOUNT,  # noqa: UP031 (braces are the shell's)
       "torch_cpu": TORCH_CPU_SH.strip(),
       "torch": " ".join(TORCH_PINS)}  # constants only: an installed grader has no pyproject.toml to read

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this per submission: the upload in $root/submission (loose files, a folder or a
# zip), the metadata in $root/submission_metadata.json. It always leaves $root/results/results.json,
# or Gradescope would only say that the autograder failed. AUTOGRADER_ROOT and GRADER_PYTHON
# exist for tests that lay a folder out like /autograder.
set -uo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
python="${GRADER_PYTHON:-$root/venv/bin/python}"
export GRADER_ROOT="$root/source/course" GRADER_DATA="${GRADER_DATA:-$root/data}" GRADER_BACKEND=local
if [ -z "${GRADER_RUN_AS+x}" ] && [ "$(id -u)" = 0 ] && id %(account)s >/dev/null 2>&1; then
  export GRADER_RUN_AS=%(account)s
fi
mkdir -p "$root/results"
rm -f "$root/results/results.json"
"$python" -m grader.commands.gradescope --root "$root" --assignment %(assignment)s
if [ ! -s "$root/results/results.json" ]; then
  cat > "$root/results/results.json" <<'JSON'
{"score": 0, "output": "The autograder stopped before it could grade this submission. The course staff can see why in the autograder output.", "tests": [], "stdout_visibility": "hidden"}
JSON
fi
exit 0
"""  # noqa: E501 (the fallback results.json is one line of JSON)

BUNDLE_README = """# Gradescope autograder: {assignment}

Upload this zip as the autograder of a Gradescope programming assignment. Set in
Gradescope's autograder settings:

- Base image: any Ubuntu image (Python 3.10 or newer; setup.sh installs Python 3.11 with uv where
  the image's is older, which needs the network during the build).
- Memory: {memory_line}
- CPUs: {cpus:g} or more (each step is limited to {cpus:g}).
- Timeout: at least {timeout_min} minutes ({timeout_why}).
{timeout_warning}
What happens per submission: run_autograder grades exactly one submission (an uploaded zip, a
folder, or loose files), with the seed from the student ID in the metadata (`sid`; when it is
blank: the submission's studentID_name, then digits in the email, then Gradescope's user ID, each
said in the output), and writes results/results.json even when grading fails.

Student code runs as the unprivileged account `{account}`; /autograder/source (hidden tests,
rubric thresholds, assignment settings) is readable by root only. The grader's own code is
installed in the venv and readable (it holds no course data; the notebook executor needs it).

Items with `visibility: hidden` in the rubric are left out of results.json (their points count);
the TA sees every item in the autograder output (stdout, hidden from students).

Data: Fashion-MNIST comes from the distribution's `dataset-fashion-mnist` package where there is
one; otherwise put the dataset into a `data/` folder of this zip before uploading (copied to
/autograder/data at build time).
"""


def _add_tree(archive: zipfile.ZipFile, source: Path, prefix: str, skip: frozenset[str] = frozenset()) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc" and rel.parts[0] not in skip:
            archive.write(path, f"{prefix}/{rel.as_posix()}")


def _add_script(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o755 << 16
    archive.writestr(info, text)


def build_bundle(assignment: Assignment, target: Path) -> Path:
    package_root = Path(__file__).resolve().parents[2]
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_script(archive, "setup.sh", SETUP_SH)
        _add_script(archive, "run_autograder",
                    RUN_AUTOGRADER % {"assignment": assignment.id, "account": STUDENT_ACCOUNT})
        archive.writestr("README.md", bundle_readme(assignment))
        _add_tree(archive, package_root / "grader", "grader_src/grader")
        for name in ("pyproject.toml", "README.md"):
            archive.write(package_root / name, f"grader_src/{name}")
        # Baselines are edits of the reference: they would hand out solution lines.
        _add_tree(archive, assignment.folder, f"course/assignments/{assignment.id}",
                  skip=frozenset({"assignment.yaml", "baselines"}))
        spec = assignment.spec.model_dump(mode="json", exclude={"baselines"})
        archive.writestr(f"course/assignments/{assignment.id}/assignment.yaml", yaml.safe_dump(spec, sort_keys=False))
        _add_tree(archive, assignment.skeleton_dir, f"course/skeleton/{assignment.id}")
        archive.write(assignment.rubric_path, f"course/rubrics/{assignment.id}.yaml")
        # The hidden tests compare with the reference's outputs; the bundle carries those, not the solution.
        if assignment.runner_sources():
            expected = hidden_tests.expected_outputs_file(assignment, LocalSandbox())
            rel = hidden_tests.shipped_expected_path(assignment).relative_to(assignment.root)
            archive.write(expected, f"course/{rel.as_posix()}")
    return target


def timeout_minutes(assignment: Assignment) -> tuple[int, str, str]:
    """(minutes to ask Gradescope for, why, a warning line or ""): from the measured grading of
    the reference with the margin, capped at Gradescope's 40 minutes."""
    limits = assignment.spec.limits
    steps = len(assignment.spec.experiments) + len(assignment.spec.assets) + sum(
        1 for item in assignment.rubric.items if item.kind == "param_count") + (
        1 if any(item.kind == "tests" for item in assignment.rubric.items) else 0)
    ceiling = math.ceil(steps * limits.cpu_seconds / 60)  # every step at its CPU-time limit
    measured = MEASURED.get(assignment.id)
    if measured:
        wanted = math.ceil(measured.wall_s * TIMEOUT_MARGIN / 60) + START_MINUTES
        why = (f"the reference was graded in {measured.wall_s:.0f} s on a 2-core machine ({measured.source}); "
               f"{TIMEOUT_MARGIN} times that plus {START_MINUTES} minutes for slower machines and a cold start")
        if ceiling > wanted:
            why += (f". A submission whose {steps} steps all run to their limit of {limits.cpu_seconds:g} s "
                    "of CPU time "
                    f"would need {ceiling} minutes: Gradescope stops it first and the student sees no result")
    else:
        wanted = ceiling + 1
        why = (f"not measured for this assignment: {steps} steps of at most {limits.cpu_seconds:g} s of CPU time "
               "each, an upper bound; measure a reference run and shorten it")
    warning = ""
    if wanted > GRADESCOPE_MAX_MINUTES:
        warning = (f"- Warning: {wanted} minutes are needed but Gradescope allows at most {GRADESCOPE_MAX_MINUTES}: "
                   f"set {GRADESCOPE_MAX_MINUTES}; a submission that takes longer is stopped without a result.\n")
        wanted = GRADESCOPE_MAX_MINUTES
    return wanted, why, warning


def bundle_readme(assignment: Assignment) -> str:
    limits = assignment.spec.limits
    recorded = calibration.peak_memory_mb(calibration.load(assignment))
    measured = MEASURED.get(assignment.id)
    if recorded is not None:  # the reference's steps as `grader calibrate` measured them
        peak = math.ceil(recorded)
        source = f" (the reference's largest step in {assignment.id}/calibration.yaml)"
    else:
        peak = max(assignment.spec.peak_memory_mb or 0, measured.peak_mb if measured else 0)
        source = ""
    if peak:
        memory_line = (f"at least {math.ceil((peak + 1024) / 512) / 2:g} GB (a step peaks at {peak} MB "
                       f"resident{source}, plus about 1 GB for the grader; Gradescope's default of 768 MB "
                       "is too little).")
    else:
        memory_line = (f"not measured for this assignment: allow one step's peak resident memory plus about 1 GB "
                       f"(measure a reference run, e.g. with /usr/bin/time -v); the sandbox's {limits.memory_mb} MB "
                       "limit caps address space, which is far above resident use with torch.")
    minutes, why, warning = timeout_minutes(assignment)
    return BUNDLE_README.format(assignment=assignment.id, memory_line=memory_line, cpus=limits.cpus,
                                timeout_min=minutes, timeout_why=why, timeout_warning=warning, account=STUDENT_ACCOUNT)


# ----------------------------------------------------------------------------- on Gradescope

JUNK_UPLOADS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


def single_submission(folder: Path) -> Path:
    """The one submission in Gradescope's upload folder: an uploaded zip, a single folder, or
    (loose files) the folder itself; never a batch."""
    entries = [p for p in folder.iterdir() if p.name not in JUNK_UPLOADS and not p.name.startswith("._")]
    if len(entries) == 1 and (entries[0].is_dir() or entries[0].suffix.lower() == ".zip"):
        return entries[0]
    return folder


def student_from_metadata(meta: dict, submission: Path) -> tuple[str, str, str | None]:
    """(student ID, name, how it was found when not from `sid`). Gradescope's `sid` is blank
    where the roster has none: fall back on the submission's own studentID_name, then digits
    in the email, then Gradescope's user ID, and say which; never a silent seed 0."""
    users = meta.get("users") or []
    user = users[0] if users else {}
    name = str(user.get("name") or "").strip()
    sid = str(user.get("sid") or "").strip()
    group = f" (group submission: graded as its first member, {name or 'unnamed'})" if len(users) > 1 else ""
    if any(ch.isdigit() for ch in sid):
        return sid, name, group.strip(" ()") or None
    parsed = parse_stem(submission_stem(submission))
    if parsed:
        return (parsed[0], name or parsed[1],
                f"no student ID in Gradescope's roster: took {parsed[0]} from the submission's name{group}")
    local = str(user.get("email") or "").split("@")[0]
    digits = "".join(ch for ch in local if ch.isdigit())
    if len(digits) >= 4:
        return digits, name, f"no student ID in Gradescope's roster: took {digits} from the email address{group}"
    if str(user.get("id") or "").isdigit():
        uid = str(user["id"])
        return uid, name, (f"no student ID in Gradescope's roster or the submission's name: the seed comes from "
                           f"Gradescope's user ID {uid}; ask the course staff to add your student ID{group}")
    raise GraderError("Gradescope's metadata names no student ID, email with digits or user ID, and the submission's "
                      "name is not studentID_name: cannot choose the seed")


def failure_results(message: str) -> dict:
    return {"score": 0, "output": f"Grading failed: {message}", "output_format": "text", "tests": [],
            "visibility": "visible", "stdout_visibility": "hidden"}


def _iso_utc(text: str | None) -> str | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(text)).astimezone(dt.UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return None


def gradescope_due(meta: dict):
    """The due date Gradescope holds for this student: the user's own (an extension) or the
    assignment's; None when the metadata has none."""
    import datetime as dt

    users = meta.get("users") or []
    own = (users[0].get("assignment") or {}).get("due_date") if users and isinstance(users[0], dict) else None
    for text in (own, (meta.get("assignment") or {}).get("due_date")):
        try:
            due = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
        except ValueError:
            due = None
        if due is not None and due.tzinfo is not None:
            return due
    return None


def run_on_gradescope(root: Path, assignment_id: str, sandbox=None) -> dict:
    """Grade the one submission under root (laid out like /autograder) and write
    root/results/results.json; any failure becomes the results' output, never a missing file."""
    from grader.course import catalog
    from grader.sandbox import make_sandbox
    from grader.steps.lms import Identity, SubmissionOrigin
    from grader.steps.pipeline import grade_submission
    from grader.verdict.late import apply_late

    target = root / "results" / "results.json"
    try:
        try:
            meta = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GraderError(f"cannot read submission_metadata.json ({exc})") from None
        upload = root / "submission"
        if not upload.is_dir() or not any(upload.iterdir()):
            raise GraderError("the submission is empty: upload your files or your studentID_name.zip")
        source = single_submission(upload)
        student_id, name, note = student_from_metadata(meta, source)
        assignment = catalog.load(assignment_id, root / "source" / "course")
        origin = SubmissionOrigin(lms="gradescope", file_name=source.name,
                                  submitted_at=_iso_utc(meta.get("created_at")))
        identity = Identity(source, student_id, name or None, origin)
        with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as out:
            report = grade_submission(source, assignment, sandbox or make_sandbox("local"), Path(out),
                                      student_id=student_id, identity=identity)
        if note:
            report.warnings.insert(0, note)
        # Once, from Gradescope's due date (the student's extension included); the rubric gives the penalty.
        late, due = assignment.rubric.late, gradescope_due(meta)
        apply_late(report, late.model_copy(update={"due": due}) if late and due else late)
        results = results_json(report)
        print(json.dumps(results_json(report, ta=True), indent=2))  # stdout: the staff's view, every item
    except GraderError as exc:
        results = failure_results(str(exc))
        print(f"error: {exc}")
    except Exception as exc:  # noqa: BLE001 - Gradescope must always get a results.json
        results = failure_results(f"internal error: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


def run(session: Session, assignment_id: str, target: Path) -> None:
    """`grader gradescope`: write the bundle."""
    session.console.print(f"wrote {build_bundle(session.load(assignment_id), target)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.commands.gradescope",
                                     description="Grade the one submission of a Gradescope autograder run.")
    parser.add_argument("--root", type=Path, default=Path("/autograder"), help="folder laid out like /autograder")
    parser.add_argument("--assignment", required=True)
    args = parser.parse_args(argv)
    run_on_gradescope(args.root, args.assignment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
