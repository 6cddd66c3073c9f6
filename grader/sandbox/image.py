"""Builds the grading image: base (debootstrap when no registry has it), a wheelhouse of the
pinned packages, and the grader package. The tag carries a hash of all of it, so a stale
image is never used silently."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from grader.errors import GraderError
from grader.safe_fs import tree_digest

BASE_TAG = "grader-base:bookworm"
IMAGE_PYTHON = (3, 11)  # Debian bookworm's python3, the image's interpreter (grader.steps.fail_fast compiles for it)
IMAGE_REPO = "grader-sandbox"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the repository the grader was installed from
WHEEL_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grader" / "wheelhouse"
# The same torch and torchvision the handouts' requirements.txt pin, so a submission meets the
# libraries its author ran. That is the CUDA build (about 9.5 GB of image): PyPI's torchvision
# does not import beside the small CPU build of torch 2.13.0, and the CNN assignment needs
# torchvision (transforms, ImageFolder, ResNet-18). It runs on the CPU in the container.
SANDBOX_REQUIREMENTS = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "numpy==2.4.6",
    "scikit-learn==1.9.1",
    "matplotlib==3.11.2",  # students plot in their notebooks; an import the image lacks would cost them the run
    "pillow==13.0.0",  # torchvision's image library, pinned so the handouts can promise its version
    "pytest==9.2.0",
]
# What every handout's requirements.txt lists (tests/sandbox/test_image.py holds them to it): the
# image's packages but the grader's own test runner (pytest).
STUDENT_REQUIREMENTS = [r for r in SANDBOX_REQUIREMENTS if not r.startswith("pytest==")]
# The pins a CPU-only install of torch takes (the handout's optional step, the Gradescope setup.sh).
TORCH_PINS = [r for r in STUDENT_REQUIREMENTS if r.startswith(("torch==", "torchvision=="))]


def _grader_requirements() -> list[str]:
    """The grader's own dependencies, and setuptools to build it from source offline."""
    pyproject = PACKAGE_ROOT / "pyproject.toml"
    if pyproject.is_file():
        dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:  # installed from a handout, not run from the repository: the installed metadata says it
        try:
            dependencies = [r for r in metadata.requires("grader") or [] if "extra ==" not in r]
        except metadata.PackageNotFoundError:
            dependencies = []
    return dependencies + ["setuptools>=68"]


TORCH_ENV = "GRADER_TORCH"  # "cpu": torch's CPU-only build (for a course whose students install it too)
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def cpu_torch() -> bool:
    """Whether the image holds torch's CPU-only build (GRADER_TORCH=cpu, at build and grading
    time alike: the tag differs). The same versions, the +cpu wheels of PyTorch's own index
    (torch and a torchvision built for it): about 1 GB of packages instead of the CUDA build's
    several. Only for a course whose handouts have students install the CPU wheels too."""
    value = os.environ.get(TORCH_ENV, "").strip().lower()
    if value not in ("", "cpu", "cuda", "default"):
        raise GraderError(f"{TORCH_ENV} must be cpu or cuda (the default), not {value!r}")
    return value == "cpu"


def image_tag() -> str:
    # Not README.md: the image gets a stand-in (pip wants the file pyproject names), so editing
    # the docs neither rebuilds the image nor stales the one a running test suite uses.
    digest = hashlib.sha256("\n".join(SANDBOX_REQUIREMENTS).encode() + BASE_TAG.encode())
    if cpu_torch():
        digest.update(f"\0torch from {CPU_TORCH_INDEX}".encode())
    for part in ("Dockerfile", "pyproject.toml", "grader"):
        tree_digest(digest, PACKAGE_ROOT / part)
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def _run(cmd: list[str], what: str, **kwargs) -> None:
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise GraderError(f"{what} failed (exit code {result.returncode})")


def wheel_cache() -> Path:
    """Kept between builds (pip skips wheels already there, and an unchanged wheelhouse keeps
    Docker's cache of the heavy layer); one per torch build, never both in one wheelhouse."""
    return WHEEL_CACHE.with_name("wheelhouse-cpu") if cpu_torch() else WHEEL_CACHE


def download_command(dest: Path) -> list[str]:
    """pip download of every wheel the image installs; the CPU build from PyTorch's index."""
    index = ["--index-url", CPU_TORCH_INDEX, "--extra-index-url", "https://pypi.org/simple"] if cpu_torch() else []
    return [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
            *index, "-d", str(dest), *SANDBOX_REQUIREMENTS, *_grader_requirements()]


def build_context(context: Path, wheels: Path) -> Path:
    """The build context: the Dockerfile, the wheelhouse (only the builder stage copies it; the
    image gets the installed /opt/venv) and the grader package. Never solutions or hidden tests."""
    shutil.copytree(wheels, context / "wheelhouse")
    (context / "wheelhouse" / "requirements.txt").write_text(
        "\n".join(SANDBOX_REQUIREMENTS + _grader_requirements()) + "\n")
    source = context / "grader_src"
    shutil.copytree(PACKAGE_ROOT / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(PACKAGE_ROOT / "pyproject.toml", source / "pyproject.toml")
    (source / "README.md").write_text("Grader's sandbox copy; the documentation is the project's README.md.\n")
    shutil.copyfile(PACKAGE_ROOT / "Dockerfile", context / "Dockerfile")
    return context


def build_image(echo=print) -> str:
    tag = image_tag()
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        echo(f"image {tag} is up to date")
        return tag
    _run([str(PACKAGE_ROOT / "docker" / "build_base_image.sh"), BASE_TAG], "building the base image")
    with tempfile.TemporaryDirectory(prefix="grader-image-") as tmp:
        echo("collecting wheels" + (" (torch's CPU build)" if cpu_torch() else ""))
        cache = wheel_cache()
        cache.mkdir(parents=True, exist_ok=True)
        _run(download_command(cache), "pip download of the sandbox wheels")
        context = build_context(Path(tmp), cache)
        echo(f"building {tag}")
        _run(["docker", "build", "-q", "--build-arg", f"BASE={BASE_TAG}", "-t", tag, str(context)], "docker build")
    return tag
