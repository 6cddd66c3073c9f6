#!/usr/bin/env python3
"""Benchmark: grade 8 copies of a fast submission (the tiny test assignment) with --jobs 1 and
--jobs 2 and print the speed-up. Target: >= 1.7 on 2 cores.
Run on purpose: `.venv/bin/python benchmarks/batch_jobs.py`."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "fixtures" / "tiny"
COPIES = 8
BACKEND = sys.argv[1] if len(sys.argv) > 1 else "local"  # or docker


def grade(root: Path, batch: Path, out: Path, jobs: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "--root", str(root), "grade", str(batch), "--out", str(out),
                    "--jobs", str(jobs), "--force", "--backend", BACKEND], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, batch = Path(tmp) / "course", Path(tmp) / "batch"
        shutil.copytree(TINY, root)
        batch.mkdir()
        # a fast submission that still does a second of single-threaded work, as training would
        answer = "sum(i * i for i in range(6_000_000))\n" + (root / "solutions" / "tiny" / "answer.py").read_text()
        for k in range(COPIES):
            with zipfile.ZipFile(batch / f"2025{k:04d}_copy{k}.zip", "w") as z:
                z.writestr("answer.py", answer)
        one = grade(root, batch, Path(tmp) / "out1", 1)
        two = grade(root, batch, Path(tmp) / "out2", 2)
    print(f"cores: {os.cpu_count()}, submissions: {COPIES}, backend: {BACKEND}")
    print(f"--jobs 1: {one:.1f} s   --jobs 2: {two:.1f} s")
    print(f"speed-up: {one / two:.2f} (target >= 1.7)")


if __name__ == "__main__":
    main()
