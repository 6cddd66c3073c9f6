"""Reports: the JSON a TA's scripts read, the gradebook, and the HTML a student opens, checked
in a real headless browser."""

import csv
import json
import shutil
import subprocess

import pytest

from grader.reports.report import write_gradebook
from grader.steps.pipeline import grade_submission

from conftest import student_files, write_zip

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def graded(tmp_path, tiny, sandbox):
    z = write_zip(tmp_path / "20250042_ana.zip", student_files(tiny))
    report = grade_submission(z, tiny, sandbox, tmp_path / "out")
    write_gradebook([report], tmp_path / "out")
    return report, tmp_path / "out"


def test_html_report_plots_values_against_thresholds_and_curves(graded):
    report, out = graded
    html = (out / report.stem / "report.html").read_text()
    assert '<span id="score">16 / 15</span>' in html
    assert html.count('<svg class="metric"') == 2 and '<svg class="curve"' in html
    assert "&gt;= 0.85: 10 pts" in html and "Training curves" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # opens offline


def test_html_escapes_student_text(tmp_path, tiny, sandbox):
    files = student_files(tiny)
    files["answer.py"] = "raise SystemExit('<script>alert(1)</script>')\n"
    report = grade_submission(write_zip(tmp_path / "1_a.zip", files), tiny, sandbox, tmp_path / "out")
    html = (tmp_path / "out" / "1_a" / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert report.status == "graded"


def test_gradebook_has_a_column_per_item(graded):
    report, out = graded
    row = next(csv.DictReader(open(out / "grades.csv")))
    assert row["student_id"] == "20250042" and row["score"] == "16" and row["accuracy"] == "10"
    assert row["answer_tests"] == "3" and row["params"] == "2" and row["status"] == "graded"
    assert json.loads((out / report.stem / "report.json").read_text())["score"] == 16


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run.sh test installs it)")
@pytest.mark.parametrize("page", ["20250042_ana/report.html", "index.html"])
def test_pages_load_in_headless_chromium_without_console_errors(graded, tmp_path, page):
    _, out = graded
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=2000", "--dump-dom", (out / page).as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert ("16 / 15" in dom) and ("<svg" in dom or "Gradebook" in dom)
    console_errors = [ln for ln in result.stderr.splitlines() if "CONSOLE" in ln and ("ERROR" in ln or "Uncaught" in ln)]
    assert console_errors == [], console_errors
