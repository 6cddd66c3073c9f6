#!/usr/bin/env python3
"""Benchmark: the size and set-up time of each environment the grader asks someone to build.

Prints:
- the grader's own venv (`./run.sh`'s .venv): its size on disk, what torch build it holds and how
  much of it is torch with CUDA's libraries, and the set-up time run.sh recorded in its stamp
  (`--measure`: build a fresh one with run.sh into a temporary folder first, timed, then delete it);
- a student's handout venv (`grader handout`'s requirements.txt and grader-tool, the README's
  install line) and the Gradescope bundle's setup.sh (the grader with the `ml` extra): what pip
  would download and install, from `pip install --dry-run --ignore-installed --report`, nothing
  installed. Sizes are the wheels' (download) and their unpacked contents (installed; read from
  the wheel where pip's report points at a local file, else not known without downloading);
- whether PyTorch's CPU wheel index answers here: when it does, the handout and the bundle are
  also planned with it (the plans the README's optional command and setup.sh take).

Targets: a handout venv <= 1.5 GB where the CPU wheels are reachable; the bundle's set-up <= 5
minutes (setup.sh's pip steps are run.sh's `.[ml]` install: the time is the measured one plus the
download at an assumed bandwidth, `--mbps`).

Run on purpose: `.venv/bin/python benchmarks/environments.py [--measure] [--assignment ID] [--mbps N]`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HANDOUT_TARGET_GB = 1.5
BUNDLE_TARGET_MIN = 5.0
GB = 1e9


def disk_usage(path: Path) -> int:
    """Bytes on disk under path (allocated blocks, links not followed), like `du -s`."""
    total, seen = 0, set()
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def cpu_index_answers() -> bool:
    try:
        urllib.request.urlopen(CPU_INDEX + "/torch/", timeout=10).close()
        return True
    except OSError:
        return False


def read_stamp(venv: Path) -> dict[str, str]:
    """run.sh's record of the install (`.grader-deps-<hash>-<extras>`); {} when none or an old, empty one."""
    for stamp in sorted(venv.glob(".grader-deps-*")):
        fields = dict(line.split("=", 1) for line in stamp.read_text().splitlines() if "=" in line)
        if fields:
            return fields
    return {}


def venv_report(venv: Path) -> dict:
    site = next(venv.glob("lib/python3*/site-packages"), None)
    torch = sorted(site.glob("torch-*.dist-info")) if site else []
    heavy = sum(disk_usage(p) for p in [*(site.glob("torch") if site else []), *(site.glob("nvidia*") if site else []),
                                        *(site.glob("triton") if site else []), *(site.glob("cuda*") if site else [])])
    return {"path": str(venv), "bytes": disk_usage(venv), "torch": torch[0].name[6:-10] if torch else "none",
            "torch_and_cuda_bytes": heavy, "stamp": read_stamp(venv)}


def measure_venv() -> dict:
    """A fresh venv from `./run.sh grader --version` (what grading needs, .[ml]), timed, then removed."""
    with tempfile.TemporaryDirectory(prefix="grader-venv-") as tmp:
        venv = Path(tmp) / "venv"
        started = time.monotonic()
        done = subprocess.run(["bash", str(REPO / "run.sh"), "grader", "--version"], cwd=tmp,
                              env={**os.environ, "GRADER_VENV": str(venv)}, capture_output=True, text=True)
        wall = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"run.sh failed:\n{done.stderr[-3000:]}")
        report = venv_report(venv)
        report["measured_s"] = wall
        report["index_line"] = next((line for line in done.stderr.splitlines() if line.startswith("[torch]")), "")
        return report


def wheel_sizes(url: str) -> tuple[int | None, int | None]:
    """(download bytes, unpacked bytes) of one planned file: both from a local file, the download's
    from the server's Content-Length otherwise (unpacked then unknown)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.parse.unquote(parsed.path))
        if path.is_dir():  # a local project (grader-tool, the repository): built at install time, small
            return None, None
        unpacked = None
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as whl:
                unpacked = sum(info.file_size for info in whl.infolist())
        return path.stat().st_size, unpacked
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=20) as answer:
            return int(answer.headers.get("Content-Length") or 0) or None, None
    except (OSError, ValueError):
        return None, None


def plan(args: list[str], cwd: Path) -> dict:
    """What `pip install ARGS` would install into an empty environment: pip's dry-run report."""
    with tempfile.TemporaryDirectory(prefix="grader-plan-") as tmp:
        report_path = Path(tmp) / "report.json"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                               "--disable-pip-version-check", "--report", str(report_path), *args],
                              cwd=cwd, capture_output=True, text=True)
        resolve_s = time.monotonic() - started
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or [f"pip exit {done.returncode}"]
            return {"error": last[0]}
        items = json.loads(report_path.read_text())["install"]
    rows = []
    for item in items:
        download, unpacked = wheel_sizes(item["download_info"]["url"])
        rows.append((item["metadata"]["name"], item["metadata"]["version"], download, unpacked,
                     item["download_info"]["url"]))
    rows.sort(key=lambda r: -(r[2] or 0))
    # Unpacked: the local wheels' contents; a remote wheel or an sdist counts at its download size (a floor).
    known = [r for r in rows if r[2] is not None]
    return {"packages": len(rows), "download": sum(r[2] for r in known),
            "unpacked": sum(r[3] if r[3] is not None else r[2] for r in known),
            "sdists": [r[0] for r in known if r[3] is None],
            "unsized": [r[0] for r in rows if r[2] is None], "largest": rows[:6], "resolve_s": resolve_s}


def fmt_gb(n: float | None) -> str:
    return "unknown" if n is None else f"{n / GB:.2f} GB"


def print_plan(title: str, result: dict) -> None:
    print(f"\n{title}")
    if "error" in result:
        print(f"  pip could not plan it: {result['error']}")
        return
    print(f"  {result['packages']} packages; download {fmt_gb(result['download'])}, installed (unpacked wheels) "
          f"{fmt_gb(result['unpacked'])}{' at least' if result['sdists'] else ''}; "
          f"pip's resolution took {result['resolve_s']:.0f} s")
    if result["unsized"]:
        print(f"  not sized (local projects, built at install): {', '.join(result['unsized'])}")
    if result["sdists"]:
        print(f"  counted at their download size (remote wheels, sdists): {', '.join(result['sdists'])}")
    for name, version, download, unpacked, _ in result["largest"]:
        print(f"    {name}=={version}: {fmt_gb(download)} download, {fmt_gb(unpacked)} unpacked")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="the grader's venv (default .venv)")
    parser.add_argument("--measure", action="store_true", help="build a fresh .[ml] venv with run.sh, timed")
    parser.add_argument("--assignment", default="colored_mnist", help="the handout to plan (default colored_mnist)")
    parser.add_argument("--mbps", type=float, default=100.0, help="assumed download bandwidth for setup.sh (Mbit/s)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from grader.commands.handout import INSTALL, make_handout
    from grader.course import catalog

    reachable = cpu_index_answers()
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True).stdout.split()[1]
    print(f"{time.strftime('%Y-%m-%d')} on {platform.node()}: {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, pip {pip}")
    print(f"PyTorch's CPU wheel index ({CPU_INDEX}): {'reachable' if reachable else 'NOT reachable from this machine'}")

    venv = venv_report(args.venv)
    stamp = venv["stamp"]
    print(f"\nThe grader's venv {venv['path']}: {fmt_gb(venv['bytes'])} on disk; torch {venv['torch']}, "
          f"torch with CUDA's libraries {fmt_gb(venv['torch_and_cuda_bytes'])}")
    if stamp:
        print(f"  set up by run.sh ({stamp.get('date')}): .[{stamp.get('extras')}] in {stamp.get('seconds')} s, "
              f"torch from {stamp.get('torch_from')}")
    else:
        print("  set-up time not recorded (a stamp from before run.sh recorded it): --measure builds one")
    measured = measure_venv() if args.measure else None
    if measured:
        print(f"\nA fresh grading venv (./run.sh's .[ml], --measure): {measured['measured_s']:.0f} s, "
              f"{fmt_gb(measured['bytes'])} on disk; torch {measured['torch']}, torch with CUDA's libraries "
              f"{fmt_gb(measured['torch_and_cuda_bytes'])}\n  {measured['index_line']}")

    with tempfile.TemporaryDirectory(prefix="grader-handout-") as tmp:
        handout = make_handout(catalog.load(args.assignment, REPO), Path(tmp) / "handout")
        install = INSTALL.split()[2:]  # pip install -r requirements.txt ./grader-tool/grader ./grader-tool/course
        student = plan(install, handout)
        print_plan(f"A student's venv ({args.assignment} handout, `{INSTALL}`), torch from PyPI:", student)
        student_cpu = None
        if reachable:
            student_cpu = plan(["--extra-index-url", CPU_INDEX, *install], handout)
            print_plan("The same after the README's optional CPU-torch command (PyTorch's CPU wheels):", student_cpu)

    with tempfile.TemporaryDirectory(prefix="grader-bundle-") as tmp:
        # What setup.sh installs: the bundle's grader_src (the package, pyproject.toml, README.md), with .[ml].
        source = Path(tmp) / "grader_src"
        shutil.copytree(REPO / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copyfile(REPO / name, source / name)
        bundle = plan(["./grader_src[ml]"], Path(tmp))
        print_plan("The Gradescope bundle's setup.sh (grader_src[ml]), torch from PyPI:", bundle)
        if reachable:
            print_plan("The same with the CPU index answering:",
                       plan(["--extra-index-url", CPU_INDEX, "./grader_src[ml]"], Path(tmp)))

    print("\nTargets")
    best = student_cpu if student_cpu and "error" not in student_cpu else None
    if best:
        ok = best["unpacked"] is not None and best["unpacked"] <= HANDOUT_TARGET_GB * GB
        print(f"  handout venv with CPU wheels <= {HANDOUT_TARGET_GB} GB: {fmt_gb(best['unpacked'])} "
              f"({'met' if ok else 'NOT met'})")
    else:
        print(f"  handout venv with CPU wheels <= {HANDOUT_TARGET_GB} GB: not measured, CPU wheels unreachable here; "
              f"with PyPI's torch it is {fmt_gb(student.get('unpacked'))}")
    seconds = measured["measured_s"] if measured else float(stamp["seconds"]) if stamp.get("seconds") else None
    if seconds is not None and "error" not in bundle:
        download_s = bundle["download"] * 8 / (args.mbps * 1e6)
        total = (seconds + download_s) / 60
        print(f"  bundle set-up <= {BUNDLE_TARGET_MIN:g} min: about {total:.1f} min ({seconds:.0f} s of pip's install "
              f"here from a local package mirror, plus {fmt_gb(bundle['download'])} at an assumed "
              f"{args.mbps:g} Mbit/s, {download_s:.0f} s; apt-get and the data not counted): "
              f"{'met' if total <= BUNDLE_TARGET_MIN else 'NOT met'}")
    else:
        print(f"  bundle set-up <= {BUNDLE_TARGET_MIN:g} min: no install time recorded (run with --measure)")
    if not reachable:
        print("  Note: PyTorch's CPU wheel index was unreachable on this machine; every figure above is PyPI's torch "
              "(the CUDA build and its nvidia-* libraries).")


if __name__ == "__main__":
    main()
