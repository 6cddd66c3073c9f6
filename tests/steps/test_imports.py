"""`grader check` warns about imports the grading image cannot satisfy, read from the code
(never run)."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

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
