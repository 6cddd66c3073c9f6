"""Assets: files an assignment's grading needs that are built, not shipped (a reference
classifier trained on the data set). Each is built once per dataset, in the sandbox, in a
copy of the handout, and cached under the data folder; a change to the handout or the command
builds it anew. Submissions read the cache read-only through {assets}."""

from __future__ import annotations

import fcntl
import hashlib
import shlex
import shutil
import tempfile
from pathlib import Path

from grader.course.catalog import Assignment
from grader.errors import GraderError
from grader.safe_fs import copy_file, is_regular, log_tail, remove_tree, tree_digest
from grader.sandbox.base import RunRequest, Sandbox

CACHE_DIR = ".grader-assets"
ASSET_CAP = 2_000_000_000  # bytes of one built asset copied out of its sandboxed build folder


def _fingerprint(assignment: Assignment, dataset: str | None) -> str:
    digest = hashlib.sha256(f"{dataset}\0".encode())
    for asset in assignment.spec.assets:
        digest.update(asset.model_dump_json().encode())
    tree_digest(digest, assignment.skeleton_dir)
    return digest.hexdigest()[:12]


def assets_folder(assignment: Assignment, dataset: str | None, data_dir: Path) -> Path:
    return data_dir / CACHE_DIR / assignment.id / f"{dataset or 'default'}-{_fingerprint(assignment, dataset)}"


def ensure_assets(assignment: Assignment, dataset: str | None, data_dir: Path, sandbox: Sandbox, substitute,
                  progress=None) -> Path | None:
    """The folder holding the assignment's assets, built first if it is not cached yet.
    `substitute` fills a command's placeholders (the pipeline's RunContext.substitute)."""
    if not assignment.spec.assets:
        return None
    folder = assets_folder(assignment, dataset, data_dir)
    if (folder / ".complete").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs wait for one build instead of each building
        if (folder / ".complete").is_file():
            return folder
        build = Path(tempfile.mkdtemp(prefix="build-", dir=folder.parent))
        try:
            shutil.copytree(assignment.skeleton_dir, build, dirs_exist_ok=True)
            for asset in assignment.spec.assets:
                if progress:
                    progress(f"building asset {asset.name} (once per dataset)")
                log = build / f"asset_{asset.name}.log"
                argv = [substitute(part) for part in shlex.split(asset.command)]
                result = sandbox.run(RunRequest(argv=argv, workspace=build, log_path=log, limits=assignment.spec.limits,
                                               data_dirs=(data_dir,)))
                missing = [o for o in asset.outputs if not is_regular(build / o, build)]
                if not result.ok or missing:
                    tail = log_tail(log, build)
                    raise GraderError(f"building asset {asset.name} failed ({result.describe()}"
                                      f"{'; missing ' + ', '.join(missing) if missing else ''})"
                                      f"{': ' + tail if tail else ''}")
            folder.mkdir(parents=True, exist_ok=True)
            for asset in assignment.spec.assets:
                for output in asset.outputs:
                    (folder / output).parent.mkdir(parents=True, exist_ok=True)
                    copy_file(build / output, folder / output, root=build, cap=ASSET_CAP)
            (folder / ".complete").write_text("")
        finally:
            remove_tree(build)
    return folder
