"""Reports: the JSON a TA's scripts read, the gradebook, and the HTML a student opens, checked
in a real headless browser."""

import csv
import io
import json
import re
import shutil
import subprocess

import pytest
from rich.console import Console

from grader.course import catalog
from grader.reports.gradescope import write_student_outputs
from grader.reports.report import (
    Report,
    RunRecord,
    item_title,
    print_gradebook,
    print_summary,
    status_class,
    status_text,
    status_warning,
    write_gradebook,
    write_index,
    write_report,
)
from grader.steps.pipeline import grade_submission
from grader.verdict.evidence import Evidence
from grader.verdict.score import score

from conftest import REPO, chromium_layout, student_files, write_zip

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
    console_errors = [ln for ln in result.stderr.splitlines()
                      if "CONSOLE" in ln and ("ERROR" in ln or "Uncaught" in ln)]
    assert console_errors == [], console_errors


def _crashed_report(rubric, stem: str, cause: str, flags=()) -> Report:
    """A report of the real rubric scored on nothing: every experiment crashed."""
    result = score(rubric, "fashion_mnist", Evidence())
    student_id, _, name = stem.partition("_")
    runs = [RunRecord(name=n, command=["python", "main.py"], exit_code=1, outcome="exit code 1", seconds=1.0,
                      output_truncated=False, log=f"logs/{n}_log.txt") for n in ("groupDRO", "IRM", "VREx")]
    return Report(source=f"{stem}.zip", stem=stem, student_id=student_id, name=name, assignment="colored_mnist",
                  dataset="fashion_mnist", status="graded", score=result.score, max_score=result.max_score,
                  items=result.items, runs=runs, cause=cause, flags=list(flags))


def test_bonus_is_said_once_in_titles(tmp_path):
    rubric = catalog.load("colored_mnist", REPO).rubric
    report = _crashed_report(rubric, "20250042_ana", "model.py:3 NameError: name 'x' is not defined, "
                                                     "every experiment failed")
    titles = [item_title(i) for i in report.items]
    assert "V-REx unit tests (bonus)" in titles and "Group DRO test accuracy" in titles
    assert not any("(bonus) (bonus)" in t or t.lower().count("bonus") > 1 for t in titles), titles
    write_report(report, tmp_path)
    write_student_outputs(report, tmp_path)
    write_index([report], tmp_path)
    for page in ("report.html", "student.html", "index.html", "results.json"):
        text = (tmp_path / page).read_text()
        assert "V-REx unit tests (bonus)" in text and "(bonus) (bonus)" not in text, page
        assert not re.search(r"\(bonus\)\s*(</strong>)?\s*(<br>)?\s*(<code>[^<]*</code>)?\s*\(bonus\)", text), page


def test_graded_with_every_experiment_failed_is_not_shown_as_all_well(tmp_path):
    rubric = catalog.load("colored_mnist", REPO).rubric
    report = _crashed_report(rubric, "20250042_ana", "model.py:3 NameError: name 'x' is not defined, "
                                                     "every experiment failed")
    assert report.status == "graded" and report.score == 0
    assert status_warning(report) == "every experiment failed"
    assert status_text(report) == "graded, but every experiment failed" and status_class(report) == "graded-warn"
    console = Console(file=io.StringIO(), width=200, record=True, color_system="truecolor")
    print_summary(report, console)
    assert "graded, but every experiment failed" in console.export_text()
    assert "\x1b[32m" not in console.export_text(styles=True).split("\n")[0]  # not green
    write_report(report, tmp_path / "a")
    write_index([report], tmp_path)
    page = (tmp_path / "a" / "report.html").read_text()
    assert 'class="status-graded-warn" id="status">graded, but every experiment failed' in page
    assert 'id="cause">Why points were lost: model.py:3 NameError' in page
    index = (tmp_path / "index.html").read_text()
    assert '<td class="graded-warn">graded, but every experiment failed</td>' in index
    # a graded report that scored keeps the plain status
    fine = report.model_copy(update={"score": 12.0,
                                     "runs": [r.model_copy(update={"outcome": "ok"}) for r in report.runs]})
    assert status_warning(fine) == "" and status_text(fine) == "graded" and status_class(fine) == "graded"


def test_a_name_that_is_not_utf8_is_written_with_visible_escapes_and_others_as_they_are(tmp_path):
    """report.json and the page are written whatever a student's file was called: a name that is not
    UTF-8 keeps its bytes as visible escapes (the JSON serializer refuses it as it is); a report
    without one is written unchanged."""
    rubric = catalog.load("colored_mnist", REPO).rubric
    odd = b"caf\xe9.py".decode("utf-8", "surrogateescape")
    report = _crashed_report(rubric, "20250042_ana", f"{odd}:3 NameError, every experiment failed")
    report.warnings.append(f"ignored: {odd}")
    write_report(report, tmp_path / "odd")
    written = json.loads((tmp_path / "odd" / "report.json").read_text(encoding="utf-8"))
    assert "ignored: caf\\udce9.py" in written["warnings"]
    assert "caf\\udce9.py" in (tmp_path / "odd" / "report.html").read_text(encoding="utf-8")
    assert report.warnings[-1] == f"ignored: {odd}"  # the report itself is left as it was
    plain = report.model_copy(update={"warnings": ["ignored: cafe.py"], "cause": "x"})
    write_report(plain, tmp_path / "plain")
    assert Report.model_validate_json((tmp_path / "plain" / "report.json").read_text()) == plain


def test_terminal_gradebook_shows_the_whole_note():
    rubric = catalog.load("colored_mnist", REPO).rubric
    cause = ("model.py:61 RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x3136 and 784x10) while training "
             "the Group DRO objective on the first environment, every experiment failed; and the end is here: ZEBRA")
    report = _crashed_report(rubric, "20250042_ana", cause, flags=["logs differ from the re-run: IRM_log.txt QUAGGA"])
    console = Console(file=io.StringIO(), width=100, record=True)
    print_gradebook([report], console)
    text = console.export_text()
    assert "ZEBRA" in text and "QUAGGA" in text, text  # not cut at two lines (160 characters)



def test_a_cause_that_is_also_a_flag_is_noted_once():
    """erm_everywhere's held-out check flags each accuracy item; the worst is also the root cause."""
    from grader.reports.report import notes

    rubric = catalog.load("colored_mnist", REPO).rubric
    held_out = "Accuracy_testmean = 0.4881, but only 0.4703 on held-out environments (floor 0.5): " + "x" * 150
    flags = [f"{item}: {held_out}" for item in ("groupdro_accuracy", "irm_accuracy")]
    report = _crashed_report(rubric, "20250042_ana", flags[0][:200], flags=flags)
    assert notes(report) == [flags[0][:200], flags[1]]
    report.cause = flags[1]
    assert notes(report) == [flags[1], flags[0]]

LAYOUT = """() => {
  const W = window.innerWidth, H = window.innerHeight, box = (e) => { const r = e.getBoundingClientRect();
    return [r.left, r.right, r.top, r.bottom]; };
  return {W, H, page: document.documentElement.scrollWidth, table: box(document.querySelector('.scroll')),
          notes: [...document.querySelectorAll('#gradebook td.notes')].map(box),
          status: [...document.querySelectorAll('#gradebook td.graded-warn')].map(box)};
}"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run.sh test installs it)")
def test_index_fits_a_1280_px_window_with_the_root_cause_on_the_first_screen(tmp_path):
    rubric = catalog.load("colored_mnist", REPO).rubric
    long = ("model.py:61 RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x3136 and 784x10) in "
            "GroupDRO.forward, called from train_one_epoch, every experiment failed")
    reports = [_crashed_report(rubric, f"2025{n:04d}_student_with_a_rather_long_name_{n}", long,
                               flags=["logs differ from the re-run: groupDRO_log.txt Accuracy_testmean 0.71 vs 0.52"])
               for n in range(6)]
    write_index(reports, tmp_path)
    layout, shot = chromium_layout(tmp_path / "index.html", tmp_path / "profile", LAYOUT)
    W, H = layout["W"], layout["H"]
    assert W == 1280
    assert layout["page"] <= W, layout  # no page-wide horizontal scrolling
    assert layout["table"][1] <= W, layout
    # the root cause is in view
    assert layout["notes"] and all(right <= W for _, right, _, _ in layout["notes"]), layout
    assert layout["notes"][0][2] < H and layout["status"][0][1] <= W, layout  # ... on the first screen
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280
