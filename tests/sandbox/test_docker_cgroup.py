"""The grading containers' parent cgroup (grader/sandbox/docker.py `cgroup_parent`), with Docker
faked: no daemon needed, so these run where the Docker tests are skipped."""

import subprocess

import pytest

from grader.sandbox import docker


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """`docker info` answering cgroupfs on cgroup v2, under a cgroup root in tmp_path; the calls are counted."""
    calls: list[tuple[str, ...]] = []
    answer = {"info": "cgroupfs 2\n"}

    def run(*args, timeout=60):
        calls.append(args)
        return subprocess.CompletedProcess(["docker", *args], 0, stdout=answer.get(args[0], ""), stderr="")

    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    monkeypatch.setattr(docker, "_docker", run)
    monkeypatch.setattr(docker, "CGROUP_ROOTS", [tmp_path])
    monkeypatch.setattr(docker, "_parent_found", None, raising=False)  # as in a fresh process
    return calls, answer


def test_the_cgroup_parent_is_set_up_once_per_process_not_per_sandbox(tmp_path, fake_docker, monkeypatch):
    calls, _ = fake_docker
    monkeypatch.setattr(docker, "daemon_answers", lambda: True)
    monkeypatch.setattr(docker, "image_present", lambda tag: True)
    monkeypatch.setattr(docker, "remove_stale_containers", lambda: [])
    sandboxes = [docker.DockerSandbox("image") for _ in range(3)]  # a Dask worker: one per task
    assert [s.parent for s in sandboxes] == ["/grader-sandbox"] * 3
    assert (tmp_path / "grader-sandbox" / "cpu.weight").read_text() == str(docker.SANDBOX_WEIGHT_V2)
    assert [c for c in calls if c[0] == "info"] == [("info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}")]


def test_docker_s_own_cgroup_is_remembered_and_said_each_time_a_notice_is_asked_for(fake_docker):
    calls, answer = fake_docker
    answer["info"] = "systemd 2\n"
    notices: list[str] = []
    assert docker.cgroup_parent(notices.append) is None and docker.cgroup_parent(notices.append) is None
    assert notices == ["notice: containers run under Docker's own cgroup (cgroup driver systemd): host processes "
                       "can slow them down"] * 2
    assert len(calls) == 1


def test_a_docker_info_that_did_not_answer_is_asked_again(fake_docker):
    calls, answer = fake_docker
    answer["info"] = ""
    assert docker.cgroup_parent() is None
    answer["info"] = "cgroupfs 2\n"
    assert docker.cgroup_parent() == "/grader-sandbox" and docker.cgroup_parent() == "/grader-sandbox"
    assert len(calls) == 2
