from grader.steps.intake import open_submission
from grader.steps.workspace import prepare_workspace


def submit(tmp_path, tiny, files):
    folder = tmp_path / "20250042_ana"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    sub = open_submission(folder, tmp_path / "submitted", tiny.spec.intake)
    return prepare_workspace(tiny, sub, tmp_path / "ws")


def test_editable_files_over_pristine_skeleton(tmp_path, tiny):
    ws = submit(tmp_path, tiny, {"answer.py": "# mine\n", "result_log.txt": "Summary: {'Accuracy_testmean': 0.9}"})
    assert (ws.path / "answer.py").read_text() == "# mine\n"
    assert (ws.path / "experiment.py").read_text() == (tiny.skeleton_dir / "experiment.py").read_text()
    assert ws.missing == [] and ws.warnings == []
    # the student's log is evidence kept aside; the run writes its own
    assert not (ws.path / "result_log.txt").exists() and "result_log.txt" in ws.submitted_outputs


def test_protected_file_edit_is_restored_and_reported(tmp_path, tiny):
    ws = submit(tmp_path, tiny, {"answer.py": "", "experiment.py": "print('Summary: {\"Accuracy_testmean\": 1.0}')"})
    assert (ws.path / "experiment.py").read_text() == (tiny.skeleton_dir / "experiment.py").read_text()
    assert ws.restored == ["experiment.py"]
    assert any("pristine copies were used instead: experiment.py" in w for w in ws.warnings)


def test_unchanged_protected_file_is_not_reported(tmp_path, tiny):
    ws = submit(tmp_path, tiny, {"answer.py": "", "experiment.py": (tiny.skeleton_dir / "experiment.py").read_text()})
    assert ws.restored == [] and ws.warnings == ["missing required files: result_log.txt"]


def test_missing_required_and_extra_files(tmp_path, tiny):
    ws = submit(tmp_path, tiny, {"notes.txt": "hi", "helper.py": ""})
    assert ws.missing == ["answer.py", "result_log.txt"] and ws.ignored == ["helper.py", "notes.txt"]
    assert (ws.path / "answer.py").read_text() == (tiny.skeleton_dir / "answer.py").read_text()


def test_editable_file_found_in_a_subfolder(tmp_path, tiny):
    ws = submit(tmp_path, tiny, {"code/answer.py": "# nested\n"})
    assert (ws.path / "answer.py").read_text() == "# nested\n"


def test_no_solution_or_hidden_tests_in_workspace(tmp_path, tiny):
    ws = submit(tmp_path, tiny, {"answer.py": ""})
    names = {p.name for p in ws.path.rglob("*")}
    assert "test_answer.py" not in names
    assert "sum(values) / len(values)" not in (ws.path / "answer.py").read_text()


def test_restore_removes_code_left_by_an_earlier_step(tmp_path, tiny):
    from grader.steps.workspace import restore_protected

    ws = submit(tmp_path, tiny, {"answer.py": "# mine\n"})
    (ws.path / "experiment.py").write_text("print('forged')")
    (ws.path / "json.py").write_text("# shadows the standard library")
    (ws.path / "__pycache__").mkdir()
    (ws.path / "__pycache__" / "experiment.cpython-311.pyc").write_bytes(b"unchecked hash-based pyc")
    (ws.path / "result_log.txt").write_text("kept: outputs are data")
    restore_protected(tiny, ws)
    assert (ws.path / "experiment.py").read_text() == (tiny.skeleton_dir / "experiment.py").read_text()
    assert not (ws.path / "json.py").exists() and not (ws.path / "__pycache__").exists()
    assert (ws.path / "answer.py").read_text() == "# mine\n" and (ws.path / "result_log.txt").is_file()
