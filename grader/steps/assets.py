"""Assets: files an assignment's grading needs that are built, not shipped (a reference
classifier trained on the data set). Each is built once per dataset, in the sandbox, in a
copy of the handout, and cached under the data folder; a change to the handout or the command
builds it anew. Submissions read the cache read-only through {assets}. A trusted asset (built
from the held-out data, the same for every submission) is kept in the grader's cache instead,
outside every folder a student step sees, and only trusted steps read it, as {trusted_assets}."""

from __future__ import annotations

import fcntl
import hashlib
import shlex
import shutil
import tempfile
from pathlib import Path

from grader.course.catalog import Assignment
from grader.course.spec import Asset
from grader.errors import GraderError
from grader.safe_fs import copy_file, is_regular, log_tail, remove_tree, tree_digest
from grader.sandbox.base import RunRequest, Sandbox
from grader.steps.hidden_tests import cache_root

CACHE_DIR = ".grader-assets"  # under the data folder, which every step sees
TRUSTED_CACHE_DIR = "trusted-assets"  # under the grader's cache, mounted into trusted steps only
ASSET_CAP = 2_000_000_000  # bytes of one built asset copied out of its sandboxed build folder


def _assets(assignment: Assignment, trusted: bool) -> list[Asset]:
    return [asset for asset in assignment.spec.assets if asset.trusted == trusted]


def _fingerprint(assignment: Assignment, dataset: str | None, trusted: bool = False,
                 holdout_dir: Path | None = None) -> str:
    digest = hashlib.sha256(f"{dataset}\0".encode())
    for asset in _assets(assignment, trusted):
        digest.update(asset.model_dump_json().encode())
    tree_digest(digest, assignment.skeleton_dir)
    if trusted and holdout_dir:  # other held-out files (another machine's copy) build it anew
        for path in sorted(p for p in Path(holdout_dir).iterdir() if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:12]


def assets_folder(assignment: Assignment, dataset: str | None, data_dir: Path, trusted: bool = False,
                  holdout_dir: Path | None = None) -> Path:
    root = cache_root() / TRUSTED_CACHE_DIR if trusted else data_dir / CACHE_DIR
    return root / assignment.id / f"{dataset or 'default'}-{_fingerprint(assignment, dataset, trusted, holdout_dir)}"


def ensure_assets(assignment: Assignment, dataset: str | None, data_dir: Path, sandbox: Sandbox, substitute,
                  progress=None, *, trusted: bool = False, holdout_dir: Path | None = None) -> Path | None:
    """The folder holding the assignment's assets (`trusted`: its trusted assets, built with
    `holdout_dir` mounted), built first if it is not cached yet. `substitute(template, trusted)`
    fills a command's placeholders (the pipeline's RunContext.substitute)."""
    assets = _assets(assignment, trusted)
    if not assets or (trusted and holdout_dir is None):  # trusted assets are made of held-out data: none here
        return None
    folder = assets_folder(assignment, dataset, data_dir, trusted, holdout_dir)
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
            for asset in assets:
                if progress:
                    progress(f"building asset {asset.name} (once per dataset)")
                log = build / f"asset_{asset.name}.log"
                argv = [substitute(part, True) if trusted else substitute(part) for part in shlex.split(asset.command)]
                data_dirs = (data_dir,) + ((holdout_dir,) if trusted else ())  # never None when trusted
                result = sandbox.run(RunRequest(argv=argv, workspace=build, log_path=log, limits=assignment.spec.limits,
                                               data_dirs=data_dirs))
                missing = [o for o in asset.outputs if not is_regular(build / o, build)]
                if not result.ok or missing:
                    tail = log_tail(log, build)
                    raise GraderError(f"building asset {asset.name} failed ({result.describe()}"
                                      f"{'; missing ' + ', '.join(missing) if missing else ''})"
                                      f"{': ' + tail if tail else ''}")
            folder.mkdir(parents=True, exist_ok=True)
            for asset in assets:
                for output in asset.outputs:
                    (folder / output).parent.mkdir(parents=True, exist_ok=True)
                    copy_file(build / output, folder / output, root=build, cap=ASSET_CAP)
            (folder / ".complete").write_text("")
        finally:
            remove_tree(build)
    return folder
