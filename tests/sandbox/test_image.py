"""The grading image and the handouts agree on the packages students use: a handout promises
exactly what the image provides, so code that runs on a student's machine runs in the TA's."""

from __future__ import annotations

import re

import pytest

from grader.course import catalog
from grader.sandbox.image import SANDBOX_REQUIREMENTS, STUDENT_REQUIREMENTS, _grader_requirements

from conftest import REPO


def pins(text: str) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {re.sub(r"\s+", "", line).lower() for line in lines if line}


IMAGE = {r.lower() for r in SANDBOX_REQUIREMENTS + _grader_requirements() if "==" in r}
HANDOUTS = sorted(REPO.glob("skeleton/*/requirements.txt"))


def test_every_shipped_handout_has_a_requirements_file_written_by_the_grader():
    """`grader build` writes it from STUDENT_REQUIREMENTS (and assignment.yaml's extras): no
    solution keeps a copy to drift."""
    for assignment_id in catalog.list_ids():
        assert (REPO / "skeleton" / assignment_id / "requirements.txt").is_file(), assignment_id
        assert not (REPO / "solutions" / assignment_id / "requirements.txt").exists(), assignment_id


@pytest.mark.parametrize("path", HANDOUTS, ids=lambda p: str(p.relative_to(REPO)))
def test_a_handout_lists_exactly_what_the_image_provides(path):
    listed = pins(path.read_text())
    assert all("==" in pin for pin in listed), f"{path}: every package pinned"
    assert listed - IMAGE == set(), f"{path} promises packages the grading image does not have at that version"
    assert {r.lower() for r in STUDENT_REQUIREMENTS} - listed == set(), f"{path} leaves out packages the image has"


def test_matplotlib_is_in_the_image_and_every_handout():
    assert "matplotlib==3.11.2" in SANDBOX_REQUIREMENTS
    for path in HANDOUTS:
        assert "matplotlib==3.11.2" in pins(path.read_text()), path


def test_the_image_tag_follows_the_code_not_the_docs(tmp_path, monkeypatch):
    import shutil

    from grader.sandbox import image

    root = tmp_path / "repo"
    shutil.copytree(image.PACKAGE_ROOT / "grader", root / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Dockerfile", "pyproject.toml", "README.md"):
        shutil.copyfile(image.PACKAGE_ROOT / name, root / name)
    monkeypatch.setattr(image, "PACKAGE_ROOT", root)
    before = image.image_tag()
    (root / "README.md").write_text("edited docs\n")
    assert image.image_tag() == before
    (root / "grader" / "inert.py").write_text((root / "grader" / "inert.py").read_text() + "\n# changed\n")
    assert image.image_tag() != before


def stages(dockerfile: str) -> list[str]:
    """The Dockerfile's stages, each from its FROM line on."""
    return re.split(r"(?m)^(?=FROM )", dockerfile)[1:]


def test_the_wheelhouse_never_reaches_a_layer_of_the_image():
    from grader.sandbox import image

    builder, final = [s for s in stages((image.PACKAGE_ROOT / "Dockerfile").read_text()) if "AS system" not in s][-2:]
    assert builder.startswith("FROM system AS builder") and "COPY wheelhouse" in builder
    assert final.startswith("FROM system\n")
    assert "wheelhouse" not in final and "COPY --from=builder /opt/venv /opt/venv" in final
    system = stages((image.PACKAGE_ROOT / "Dockerfile").read_text())[0]
    install = next(block for block in system.split("\nRUN ") if "dataset-fashion-mnist" in block)
    assert "rm -f /usr/share/datasets/fashion-mnist/t10k-*" in install  # the held-out split in no layer at all


def test_the_build_context_holds_the_dockerfile_wheels_and_grader_only(tmp_path):
    from grader.sandbox import image

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.14.1-cp311-none-linux_x86_64.whl").write_bytes(b"wheel")
    context = image.build_context(tmp_path / "context", wheels)
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile", "grader_src", "wheelhouse"]
    assert (context / "Dockerfile").read_text() == (image.PACKAGE_ROOT / "Dockerfile").read_text()
    assert "torch==2.14.1" in (context / "wheelhouse" / "requirements.txt").read_text().splitlines()
    shipped = {p.relative_to(context).as_posix() for p in context.rglob("*")}
    assert not [p for p in shipped if "solutions/" in p or "assignments/" in p or "__pycache__" in p]
    assert "grader_src/grader/steps/pipeline.py" in shipped


def test_cpu_torch_is_a_separate_image_from_its_own_wheels(monkeypatch):
    from grader.errors import GraderError
    from grader.sandbox import image

    monkeypatch.delenv(image.TORCH_ENV, raising=False)
    default_tag, default_cache = image.image_tag(), image.wheel_cache()
    assert "--index-url" not in image.download_command(default_cache)
    monkeypatch.setenv(image.TORCH_ENV, "cpu")
    assert image.cpu_torch() and image.image_tag() != default_tag
    assert not image.wheel_cache().is_relative_to(default_cache)  # never copied into the CUDA wheelhouse
    command = image.download_command(image.wheel_cache())
    assert command[command.index("--index-url") + 1] == image.CPU_TORCH_INDEX and "torch==2.14.1" in command
    monkeypatch.setenv(image.TORCH_ENV, "rocm")
    with pytest.raises(GraderError, match="GRADER_TORCH must be cpu or cuda"):
        image.cpu_torch()
