import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_the_graders_own_copy_of_a_submission_gives_up_its_editable_files(tmp_path, tiny):
    """move=True (the pipeline's: its copy of the submission is its own) moves an editable file into the
    workspace; the default copies it; a submitted log stays where it is either way (evidence)."""
    files = {"answer.py": "# mine\n", "result_log.txt": "Summary: {'Accuracy_testmean': 0.9}"}
    for move in (False, True):
        folder = tmp_path / f"move-{move}" / "20250042_ana"
        folder.mkdir(parents=True)
        for rel, text in files.items():
            (folder / rel).write_text(text)
        sub = open_submission(folder, folder.parent / "submitted", tiny.spec.intake)
        ws = prepare_workspace(tiny, sub, folder.parent / "ws", move=move)
        assert (ws.path / "answer.py").read_text() == "# mine\n"
        assert sub.path_of("answer.py").exists() is not move
        assert ws.submitted_outputs["result_log.txt"].read_text() == files["result_log.txt"]
        assert (ws.path / "experiment.py").read_text() == (tiny.skeleton_dir / "experiment.py").read_text()


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


DELETE_SLOWLY = """
import os, sys, time
from pathlib import Path
import grader.steps.workspace as workspace

def slow_remove(path):  # rm -rf's pace on 200,000 files: stopped midway here, deterministically
    for root, dirs, files in os.walk(path):
        for name in files:
            os.unlink(os.path.join(root, name))
            time.sleep(0.001)
    raise SystemExit("not stopped")

workspace.remove_tree = slow_remove
print("deleting", flush=True)
workspace.discard(Path(sys.argv[1]))
"""


def test_a_deletion_stopped_by_sigterm_is_finished_by_the_next_run(tmp_path, monkeypatch):
    from grader.steps.workspace import TRASH_ENV, discard, empty_trash

    monkeypatch.setenv(TRASH_ENV, str(tmp_path / "trash"))
    big = tmp_path / "grader-work"
    for folder in range(20):
        (big / str(folder)).mkdir(parents=True)
        for name in range(200):
            (big / str(folder) / str(name)).write_bytes(b"x")
    proc = subprocess.Popen([sys.executable, "-c", DELETE_SLOWLY, str(big)], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout.readline() == b"deleting\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert not big.exists()  # moved out of the way at once: nothing is left where the workspace was
    left = list((tmp_path / "trash").iterdir())
    assert len(left) == 1 and 0 < sum(1 for _ in left[0].rglob("*")) < 4020
    assert empty_trash() == [left[0].name]  # the next run finishes it
    assert not (tmp_path / "trash").exists()  # emptied, then removed: nothing stays in the temp folder
    mine = tmp_path / "mine"
    mine.mkdir()
    discard(mine)  # an ordinary deletion leaves nothing either
    assert not mine.exists() and not (tmp_path / "trash").exists()


def test_the_trash_of_a_live_grader_is_left_alone(tmp_path, monkeypatch):
    from grader.steps.workspace import TRASH_ENV, _own_start, empty_trash

    monkeypatch.setenv(TRASH_ENV, str(tmp_path / "trash"))
    live = tmp_path / "trash" / f"{os.getpid()}-{_own_start()}-{'a' * 32}"
    live.mkdir(parents=True)
    os.chmod(tmp_path / "trash", 0o700)
    assert empty_trash() == [] and live.is_dir()


def test_a_trash_removed_meanwhile_is_no_error(tmp_path, monkeypatch):
    """Another thread's discard (or another grader) may remove the emptied trash between the
    check and the listing: nothing is left to empty, and the submission's grading goes on."""
    from grader.steps import workspace

    monkeypatch.setattr(workspace, "trash_folder", lambda create=True: tmp_path / "removed-meanwhile")
    assert workspace.empty_trash() == []


def test_threads_discarding_at_once_never_fail(tmp_path, monkeypatch):
    """Worker threads of one process (a Dask worker's, the local pool's) each discard their
    workspace and empty the trash after every submission."""
    import threading

    from grader.steps.workspace import TRASH_ENV, discard, empty_trash

    monkeypatch.setenv(TRASH_ENV, str(tmp_path / "trash"))
    errors = []

    def grade(n: int) -> None:
        try:
            for k in range(40):
                folder = tmp_path / f"ws-{n}-{k}"
                (folder / "a").mkdir(parents=True)
                discard(folder)
                empty_trash()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=grade, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and not (tmp_path / "trash").exists()


def test_a_worker_process_hands_its_deletions_to_a_low_priority_janitor(tmp_path, monkeypatch):
    """A cluster worker's submission waits only for the rename into the trash; the janitor, a process
    at the lowest CPU priority, deletes from there and removes the trash once no deletion came for
    TRASH_LINGER_S; it ends when the worker closes its pipe."""
    from grader.steps import workspace

    monkeypatch.setenv(workspace.TRASH_ENV, str(tmp_path / "trash"))
    monkeypatch.setattr(workspace, "_JANITOR", None)
    monkeypatch.setattr(workspace, "TRASH_LINGER_S", 1.0)
    workspace.delete_in_background()
    janitor = workspace._JANITOR
    try:
        def nice() -> int:
            return int(Path(f"/proc/{janitor.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])

        deadline = time.monotonic() + 10
        while nice() != 19 and time.monotonic() < deadline:  # its first act
            time.sleep(0.02)
        assert nice() == 19
        for n in range(3):
            folder = tmp_path / f"ws-{n}"
            (folder / "a").mkdir(parents=True)
            (folder / "a" / "f").write_text("x")
            workspace.discard(folder)
            assert not folder.exists()
        deadline = time.monotonic() + 10
        while any((tmp_path / "trash").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list((tmp_path / "trash").iterdir()) == []  # emptied; the trash stays while deletions may follow
        while (tmp_path / "trash").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (tmp_path / "trash").exists()  # ...and goes once none came for TRASH_LINGER_S
    finally:
        workspace.stop_janitor()
    assert janitor.returncode == 0
    kept = tmp_path / "kept"
    kept.mkdir()
    workspace.discard(kept)  # no janitor any more: deleted at once
    assert not kept.exists() and not (tmp_path / "trash").exists()


def test_a_grading_process_looks_in_the_trash_now_and_then(tmp_path, monkeypatch):
    """After each submission: at most once every TRASH_INTERVAL seconds per process (it listed the
    trash and read /proc for every other grader's entry at every submission). A sweep of its own
    (a batch's start, a cluster worker's) counts: the first submission does not sweep again."""
    from grader.steps import workspace

    monkeypatch.setattr(workspace, "_EMPTIED_AT", {})
    calls = []  # each sweep looks for the trash first
    monkeypatch.setattr(workspace, "trash_folder", lambda create=True: calls.append(1))
    for _ in range(5):
        workspace.empty_trash_now_and_then()
    assert len(calls) == 1
    workspace._EMPTIED_AT[os.getpid()] -= workspace.TRASH_INTERVAL  # as if that long had passed
    workspace.empty_trash_now_and_then()
    assert len(calls) == 2
    workspace._EMPTIED_AT.clear()
    workspace.empty_trash()  # a batch's own sweep at its start
    workspace.empty_trash_now_and_then()
    assert len(calls) == 3
