import zipfile

import pytest

from grader.commands.package import handed_in, package
from grader.errors import GraderError
from grader.steps.intake import open_submission


def student_folder(tiny, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    for p in tiny.skeleton_dir.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "result_log.txt").write_text("Summary: {'Accuracy_testmean': 0.9}\n")
    (folder / "data" / "MNIST").mkdir(parents=True)
    (folder / "data" / "MNIST" / "train-images-idx3-ubyte").write_bytes(b"\0" * 1000)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "answer.cpython-311.pyc").write_bytes(b"\0")
    (folder / "checkpoint.pt").write_bytes(b"\0")
    return folder


def test_zip_layout_leaves_data_and_caches_out(tiny, tmp_path):
    target = package(tiny, student_folder(tiny, tmp_path), "12332426", "周一凡", tmp_path / "out")
    assert target.name == "12332426_周一凡.zip"
    with zipfile.ZipFile(target) as z:
        names = sorted(z.namelist())
    # Only what grading reads: the editable file and the log (the given experiment.py is the grader's own).
    assert names == ["12332426_周一凡/answer.py", "12332426_周一凡/result_log.txt"]
    sub = open_submission(target, tmp_path / "check", tiny.spec.intake)  # the grader accepts what package builds
    assert (sub.student_id, sub.name) == ("12332426", "周一凡")


def test_same_files_give_the_same_zip(tiny, tmp_path):
    folder = student_folder(tiny, tmp_path)
    a = package(tiny, folder, "1", "a", tmp_path / "one").read_bytes()
    b = package(tiny, folder, "1", "a", tmp_path / "two").read_bytes()
    assert a == b


def test_refuses_missing_required_files(tiny, tmp_path):
    folder = student_folder(tiny, tmp_path)
    (folder / "result_log.txt").unlink()
    with pytest.raises(GraderError, match="missing required files: result_log.txt"):
        package(tiny, folder, "1", "a", tmp_path)


def test_refuses_more_than_the_size_limit(tiny, tmp_path):
    folder = student_folder(tiny, tmp_path)
    (folder / "result_log.txt").write_bytes(b"x" * (tiny.spec.intake.max_bytes + 1))  # a file the zip holds
    with pytest.raises(GraderError, match="over the limit"):
        package(tiny, folder, "1", "a", tmp_path)


@pytest.mark.parametrize("sid,name", [("12a", "x"), ("1", "../evil"), ("1", "")])
def test_bad_id_or_name(tiny, tmp_path, sid, name):
    with pytest.raises(GraderError):
        package(tiny, student_folder(tiny, tmp_path), sid, name, tmp_path)


def test_files_the_grader_would_warn_about_stay_out_and_are_named(tiny, tmp_path):
    folder = student_folder(tiny, tmp_path)
    (folder / "experiment.py").write_text("print('changed')\n")  # a given file, edited
    (folder / "notes.md").write_text("my notes\n")  # not part of the assignment
    for quiet in ("DATA.md", "rubric.yaml", "12332426_old.zip"):  # the handout's own files, an earlier zip
        (folder / quiet).write_text("x\n")
    files, notes = handed_in(tiny, folder)
    assert sorted(p.name for p in files) == ["answer.py", "result_log.txt"]
    assert len(notes) == 2 and notes[0].startswith("left out experiment.py: given files")
    assert notes[1].startswith("left out notes.md: not part of the assignment")
    with zipfile.ZipFile(package(tiny, folder, "1", "a", tmp_path / "out")) as z:
        assert sorted(z.namelist()) == ["1_a/answer.py", "1_a/result_log.txt"]
