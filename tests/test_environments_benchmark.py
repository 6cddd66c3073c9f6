"""benchmarks/environments.py's measuring parts, on a stand-in wheel and run.sh's own stamp format."""

import importlib.util
import zipfile

from conftest import REPO

spec = importlib.util.spec_from_file_location("environments", REPO / "benchmarks" / "environments.py")
environments = importlib.util.module_from_spec(spec)
spec.loader.exec_module(environments)


def tiny_wheel(folder):
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    info = "tinypkg-1.0.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        whl.writestr("tinypkg/__init__.py", "x = 1\n" * 5000)
        whl.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")
    return path


def test_a_dry_run_plan_sizes_local_wheels_without_installing(tmp_path):
    wheel = tiny_wheel(tmp_path)
    result = environments.plan(["--no-index", "--find-links", str(tmp_path), "tinypkg==1.0"], tmp_path)
    assert result["packages"] == 1 and result["download"] == wheel.stat().st_size
    assert result["unpacked"] > result["download"] and result["unpacked"] >= 30000  # the unpacked module
    assert result["largest"][0][:2] == ("tinypkg", "1.0") and result["unsized"] == []
    assert "error" in environments.plan(["--no-index", "--find-links", str(tmp_path), "tinypkg==2.0"], tmp_path)


def test_the_venv_report_reads_run_shs_stamp_and_sizes_torch(tmp_path):
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "torch-2.14.1+cpu.dist-info").mkdir(parents=True)
    (site / "torch" / "lib").mkdir(parents=True)
    (site / "torch" / "lib" / "libtorch.so").write_bytes(b"\0" * 100_000)
    (venv / ".grader-deps-0123456789abcdef-ml").write_text(
        "extras=ml\ntorch_from=cpu\nseconds=95\ndate=2026-12-01T16:00:00Z\n")  # as run.sh writes it
    report = environments.venv_report(venv)
    assert report["torch"] == "2.14.1+cpu" and report["stamp"]["seconds"] == "95"
    assert report["stamp"]["torch_from"] == "cpu"
    assert 100_000 <= report["torch_and_cuda_bytes"] <= report["bytes"]
    (venv / ".grader-deps-0123456789abcdef-ml").write_text("")  # an old stamp records nothing
    assert environments.venv_report(venv)["stamp"] == {}
