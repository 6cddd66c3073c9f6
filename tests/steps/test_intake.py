import os
import stat
import zipfile

import pytest

from grader.course.spec import IntakeLimits
from grader.errors import RejectedSubmission
from grader.steps.intake import open_submission

from conftest import student_files, write_zip

LIMITS = IntakeLimits(max_files=10, max_bytes=10_000)


def test_zip_with_one_folder_inside(tmp_path):
    z = write_zip(tmp_path / "12332426_zhouyifan.zip", {"model.py": "x = 1\n", "IRM_log.txt": "Summary: {}"},
                  folder="12332426_zhouyifan")
    sub = open_submission(z, tmp_path / "out", LIMITS)
    assert (sub.student_id, sub.name, sub.stem) == ("12332426", "zhouyifan", "12332426_zhouyifan")
    assert sub.files == ["IRM_log.txt", "model.py"] and (tmp_path / "out" / "model.py").read_text() == "x = 1\n"


def test_zip_with_files_at_top_and_junk_ignored(tmp_path):
    z = write_zip(tmp_path / "1234_li.zip",
                  {"model.py": "", "__MACOSX/._model.py": "", ".DS_Store": "", "src/util.py": ""})
    assert open_submission(z, tmp_path / "out", LIMITS).files == ["model.py", "src/util.py"]


def test_gbk_encoded_names_from_windows(tmp_path):
    """Windows zip tools write names as GBK bytes without the UTF-8 flag."""
    path = tmp_path / "12332426_周一凡.zip"
    write_zip(path, {"YYYYYY/XXXX.txt": "hello", "YYYYYY/model.py": "x = 1"})
    raw = path.read_bytes()
    raw = raw.replace(b"YYYYYY", "周一凡".encode("gbk")).replace(b"XXXX", "说明".encode("gbk"))
    path.write_bytes(raw)
    sub = open_submission(path, tmp_path / "out", LIMITS)
    assert (sub.student_id, sub.name) == ("12332426", "周一凡")
    assert sub.files == ["model.py", "说明.txt"] and (tmp_path / "out" / "说明.txt").read_text() == "hello"


@pytest.mark.parametrize("entry,reason", [
    ("/etc/passwd", "absolute path"),
    ("../../escape.py", "outside the archive"),
    ("ok/../../escape.py", "outside the archive"),
    ("C:/Windows/evil.py", "absolute path"),
])
def test_unsafe_paths_rejected(tmp_path, entry, reason):
    z = write_zip(tmp_path / "1_a.zip", {"model.py": "", entry: "boom"})
    with pytest.raises(RejectedSubmission, match=reason):
        open_submission(z, tmp_path / "out", LIMITS)
    assert not (tmp_path / "escape.py").exists() and not any((tmp_path / "out").iterdir())


def test_symlink_rejected(tmp_path):
    path = tmp_path / "1_a.zip"
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("model.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(RejectedSubmission, match="symbolic link"):
        open_submission(path, tmp_path / "out", LIMITS)


def test_too_many_files(tmp_path):
    z = write_zip(tmp_path / "1_a.zip", {f"f{i}.py": "" for i in range(11)})
    with pytest.raises(RejectedSubmission, match="11 files, more than the limit of 10"):
        open_submission(z, tmp_path / "out", LIMITS)


def test_zip_bomb_by_declared_size(tmp_path):
    path = tmp_path / "1_a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.py", b"\0" * 50_000)  # compresses to ~100 bytes
    assert path.stat().st_size < 1000
    with pytest.raises(RejectedSubmission, match="inflates to 50000 bytes"):
        open_submission(path, tmp_path / "out", LIMITS)


def test_zip_bomb_with_lying_header(tmp_path):
    path = tmp_path / "1_a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.py", b"\0" * 50_000)
    data = bytearray(path.read_bytes())
    # Rewrite the declared uncompressed size (local header and central directory) to 100 bytes.
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(sig)
        data[at + offset:at + offset + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(RejectedSubmission):
        open_submission(path, tmp_path / "out", LIMITS)
    leftover = tmp_path / "out" / "model.py"
    assert not leftover.exists() or leftover.stat().st_size <= LIMITS.max_bytes


@pytest.mark.parametrize("name", ["data/MNIST/raw/train-images-idx3-ubyte", "cache.npz", "model.pt"])
def test_bundled_datasets_and_checkpoints_rejected(tmp_path, name):
    z = write_zip(tmp_path / "1_a.zip", {"model.py": "", name: "x"})
    with pytest.raises(RejectedSubmission, match="looks like a dataset or checkpoint"):
        open_submission(z, tmp_path / "out", LIMITS)


def test_folder_and_single_file(tmp_path):
    folder = tmp_path / "4321_wang"
    folder.mkdir()
    (folder / "model.py").write_text("y = 2")
    sub = open_submission(folder, tmp_path / "out1", LIMITS)
    assert (sub.student_id, sub.name, sub.files) == ("4321", "wang", ["model.py"])
    single = tmp_path / "model.py"
    single.write_text("z = 3")
    with pytest.raises(RejectedSubmission, match="cannot read the student ID from the name 'model'"):
        open_submission(single, tmp_path / "out2", LIMITS)
    assert open_submission(single, tmp_path / "out3", LIMITS, student_id="777").student_id == "777"


def test_folder_with_symlink_rejected(tmp_path):
    folder = tmp_path / "4321_wang"
    folder.mkdir()
    os.symlink("/etc/passwd", folder / "model.py")
    with pytest.raises(RejectedSubmission, match="symbolic link"):
        open_submission(folder, tmp_path / "out", LIMITS)


def test_not_a_zip(tmp_path):
    path = tmp_path / "1_a.zip"
    path.write_bytes(b"this is not a zip")
    with pytest.raises(RejectedSubmission, match="not a readable zip archive"):
        open_submission(path, tmp_path / "out", LIMITS)


def test_empty_archive(tmp_path):
    z = write_zip(tmp_path / "1_a.zip", {"__MACOSX/x": ""})
    with pytest.raises(RejectedSubmission, match="holds no files"):
        open_submission(z, tmp_path / "out", LIMITS)


@pytest.mark.parametrize("folder", [None, "sub"])
def test_a_member_that_is_both_a_file_and_a_folder_is_a_one_line_rejection(tmp_path, folder):
    z = write_zip(tmp_path / "1_a.zip", {"evaluate.py": "x = 1\n", "evaluate.py/model.py": "y = 2\n"}, folder=folder)
    with pytest.raises(RejectedSubmission, match="'evaluate.py' both as a file and as a folder") as caught:
        open_submission(z, tmp_path / "out", LIMITS)
    assert "\n" not in str(caught.value)


def test_a_malformed_archive_is_rejected_not_crashed_by_the_pipeline(tmp_path, tiny, sandbox):
    from grader.steps.pipeline import grade_submission

    files = {**student_files(tiny), "evaluate.py": "x = 1\n", "evaluate.py/model.py": "y = 2\n"}
    report = grade_submission(write_zip(tmp_path / "20250001_a.zip", files), tiny, sandbox, tmp_path / "out")
    assert report.status == "rejected" and "both as a file and as a folder" in report.message
    assert "\n" not in report.message and not (tmp_path / "out" / "20250001_a" / "grader_error.txt").exists()
