"""`grader check` warns about imports the grading image cannot satisfy, read from the code
(never run)."""

from __future__ import annotations

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from grader.steps import imports
from grader.steps.imports import imported_modules, local_modules, unsatisfied_imports
from grader.steps.pipeline import check_own_logs

from conftest import student_files


def test_imports_are_read_not_run(tmp_path):
    assert imported_modules("import os, torch.nn as nn\nfrom sklearn.metrics import roc_auc_score\nfrom . import x\n"
                            "raise SystemExit('never run')") == {"os", "torch", "sklearn"}
    assert imported_modules("def broken(:") == set()


def test_a_notebook_cell_importing_what_the_image_lacks_is_named(tmp_path):
    nb = tmp_path / "work.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("%matplotlib inline\n"
                                                     "import matplotlib.pyplot as plt\nimport numpy as np"),
                                       new_code_cell("import seaborn as sns\nfrom helpers import f")]), str(nb))
    warnings = unsatisfied_imports([nb], {"helpers"})
    assert warnings == ["work.ipynb cell 2 imports seaborn, which the grading image does not have: the TA's run will "
                        "fail there (use only the packages in requirements.txt)"]


def test_stdlib_the_image_packages_and_the_handouts_modules_are_fine(tmp_path):
    code = tmp_path / "model.py"
    code.write_text("import json, math\nimport torch\nimport torchvision\nfrom PIL import Image\n"
                    "import scipy\nimport data\n")
    (tmp_path / "data.py").write_text("")
    assert unsatisfied_imports([code], local_modules(tmp_path)) == []


def test_check_warns_before_the_ta_grades(tmp_path, tiny, sandbox):
    folder = tmp_path / "work"
    folder.mkdir()
    for rel, text in student_files(tiny).items():
        (folder / rel).write_text(text)
    (folder / "answer.py").write_text("import pandas\n" + (folder / "answer.py").read_text())
    report = check_own_logs(tiny, folder, sandbox)
    assert any(w.startswith("answer.py imports pandas, which the grading image does not have") for w in report.warnings)


def test_preloaded_modules_are_what_the_courses_own_processes_import_as_they_start(tiny_root):
    """The trusted step's script and the hidden-test runners, followed through the handout's
    modules: installed modules imported at module level; nothing imported inside a function,
    no module of the handout's own, nothing from a file no grader process imports."""
    from grader.course import catalog
    from grader.steps.imports import preload_modules

    skeleton = tiny_root / "skeleton" / "tiny"
    (skeleton / "scoring_helpers.py").write_text("import json\nimport xml.dom.minidom as md\n"
                                                 "def later():\n    import sqlite3\n")
    (skeleton / "score.py").write_text("import argparse\nimport scoring_helpers\n"
                                       "try:\n    import decimal\nexcept ImportError:\n    decimal = None\n")
    (skeleton / "plots.py").write_text("import wave\n")  # imported by no grader process
    spec_path = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["experiments"].append({"name": "score", "command": "{python} score.py", "log": "score_log.txt",
                                "trusted": True})
    spec_path.write_text(yaml.safe_dump(spec))
    assignment = catalog.load("tiny", tiny_root)
    runner_imports = set()
    for code in assignment.runner_sources().values():
        runner_imports |= imports.module_level_imports(code)
    preloaded = set(preload_modules(assignment))
    assert {"argparse", "json", "xml.dom.minidom", "decimal"} <= preloaded
    assert not preloaded & {"sqlite3", "wave", "scoring_helpers", "score", "grader"}
    assert {name for name in runner_imports if not name.startswith("grader")} <= preloaded
