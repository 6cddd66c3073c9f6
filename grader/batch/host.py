"""Fitting a batch to the host it runs on: each parallel job's share of the cores (and so of
torch's threads), and a memory limit per step lowered so that every job of this batch at once
fits the host's memory (read in grader/sandbox/host_memory.py, whose host-wide budget also
holds the graders beside this one to the same memory)."""

from __future__ import annotations

import dataclasses
import os

from grader.course.catalog import Assignment
from grader.course.spec import SandboxLimits
from grader.errors import SpecError
from grader.sandbox.base import Sandbox
from grader.sandbox.host_memory import HOST_RESERVE_MB, host_memory_mb

MIN_MEMORY_MB = 512


def fit_memory(limits: SandboxLimits, jobs: int, host_mb: int | None = None) -> tuple[SandboxLimits, str | None]:
    """Memory per step lowered so that `jobs` steps at once fit the host, with a note saying
    so; a SpecError when even the lowered share would be too small to run anything."""
    host_mb = host_memory_mb() if host_mb is None else host_mb
    if not host_mb:
        return limits, None
    share = (host_mb - HOST_RESERVE_MB) // max(1, jobs)
    if limits.memory_mb <= share:
        return limits, None
    if share < MIN_MEMORY_MB:
        raise SpecError(f"--jobs {jobs} leaves {max(share, 0)} MB of this host's {host_mb} MB per submission "
                        f"(the assignment asks for {limits.memory_mb} MB): lower --jobs")
    note = (f"notice: memory per submission lowered from {limits.memory_mb} MB to {share} MB so that --jobs {jobs} "
            f"fits this host's {host_mb} MB")
    return limits.model_copy(update={"memory_mb": int(share)}), note



def fit_to_host(assignment: Assignment, jobs: int, sandbox: Sandbox, notice=None) -> Assignment:
    """The assignment with its memory limit lowered so that `jobs` containers at once fit this
    host (said through `notice`); a GraderError when they cannot. The local backend's limit is
    address space, not memory, and is left alone."""
    if sandbox.name != "docker":
        return assignment
    limits, note = fit_memory(assignment.spec.limits, jobs)
    if note and notice:
        notice(note)
    return dataclasses.replace(assignment, spec=assignment.spec.model_copy(update={"limits": limits}))


def load_notice(loadavg=None, cores: int | None = None) -> str | None:
    """One notice when the host's runnable load (the 1-minute load average) exceeds its cores:
    steps then wait for a core. Grades do not move (every limit that decides one is CPU time,
    the wall clock only a backstop), but grading takes longer. None on an unloaded host, or where
    the load cannot be read."""
    cores = cores or os.cpu_count() or 1
    try:
        load = (loadavg or os.getloadavg)()[0]
    except OSError:
        return None
    if load <= cores:
        return None
    return (f"notice: this host's load ({load:.1f}) exceeds its {cores} cores: grades stay the same, "
            "grading will be slower")


def with_cpu_share(assignment: Assignment, jobs: int) -> Assignment:
    """Each parallel job gets its share of the cores, as its quota (and so its wall-clock backstop);
    its steps keep the assignment's thread count, so what they compute does not depend on `jobs`."""
    cores = os.cpu_count() or 1
    declared = assignment.spec.limits
    share = max(1.0, min(declared.cpus, cores / jobs))
    limits = declared.model_copy(update={"cpus": share, "threads": declared.thread_count()})
    return dataclasses.replace(assignment, spec=assignment.spec.model_copy(update={"limits": limits}))
