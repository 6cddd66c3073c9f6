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
HANDOUTS = sorted(REPO.glob("solutions/*/requirements.txt")) + sorted(REPO.glob("skeleton/*/requirements.txt"))


def test_every_shipped_handout_has_a_requirements_file():
    for assignment_id in catalog.list_ids():
        assert (REPO / "solutions" / assignment_id / "requirements.txt").is_file(), assignment_id
        assert (REPO / "skeleton" / assignment_id / "requirements.txt").is_file(), assignment_id


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
