"""Step 3, sandbox: run a command under limits. Backends share the Sandbox interface."""

import os

from grader.sandbox.base import RunRequest, RunResult, Sandbox
from grader.sandbox.local import LocalSandbox

__all__ = ["RunRequest", "RunResult", "Sandbox", "LocalSandbox", "make_sandbox", "BACKENDS"]

BACKENDS = ["auto", "local", "docker"]
BACKEND_ENV = "GRADER_BACKEND"


def make_sandbox(backend: str | None = None, notice=None, local_fallback: bool = True) -> Sandbox:
    """`auto` takes Docker when a daemon answers and the current grading image is built. Else
    it uses the local backend and says so through `notice`, or, with `local_fallback=False`
    (`grader grade`: student code never runs unsandboxed unless asked for), refuses."""
    from grader.errors import GraderError
    from grader.sandbox import docker
    from grader.sandbox.image import image_tag

    backend = backend or os.environ.get(BACKEND_ENV) or "auto"
    if backend == "local":
        return LocalSandbox()
    if backend == "docker":
        return docker.DockerSandbox(image_tag(), notice)
    if backend == "auto":
        tag = image_tag()
        if docker.daemon_answers() and docker.image_present(tag):
            return docker.DockerSandbox(tag, notice)
        why = ("no Docker daemon answers" if not docker.daemon_answers()
               else f"image {tag} is not built (`grader image build`)")
        if not local_fallback:
            raise GraderError(f"{why}: submissions run only in the Docker sandbox unless you pass --backend local "
                              "(a subprocess, not a security boundary)")
        if notice:
            notice(f"notice: {why}; running submissions with the local backend, which is not a security boundary")
        return LocalSandbox()
    raise GraderError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
