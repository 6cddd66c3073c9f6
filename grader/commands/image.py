"""`grader image build|tag`: the Docker image submissions run in (grader/sandbox/image.py builds it)."""

from __future__ import annotations

from grader.commands.session import Session
from grader.sandbox.image import build_image, image_tag


def build(session: Session) -> None:
    session.console.print(f"grading image: {build_image(echo=session.console.print)}")


def tag(session: Session) -> None:
    session.console.print(image_tag())
