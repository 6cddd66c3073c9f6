import nbformat
import pytest

from grader.course import catalog
from grader.course.skeleton import MarkerError, check_in_sync, generate, strip_markers, strip_notebook, strip_python
from grader.errors import GraderError

from conftest import run_cli, shipped_ids

SOURCE = '''def penalty(logits, y):
    """Squared gradient of the risk (docstring stays)."""
    # BEGIN SOLUTION: compute the IRMv1 penalty
    scale = torch.ones((), requires_grad=True)
    return grad_of(scale) ** 2
    # END SOLUTION


def eta():
    return 0.05  # SOLUTION: the step size
'''


def test_blocks_become_stubs_that_raise_and_keep_docstrings():
    out = strip_python(SOURCE, "model.py")
    assert '"""Squared gradient of the risk (docstring stays)."""' in out
    assert ("    # TODO: compute the IRMv1 penalty\n"
            "    raise NotImplementedError('TODO (model.py): compute the IRMv1 penalty')") in out
    assert "    raise NotImplementedError('TODO (model.py): the step size')" in out
    for leaked in ("requires_grad=True", "grad_of", "0.05", "SOLUTION"):
        assert leaked not in out
    namespace: dict = {}
    exec(compile(out, "model.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="compute the IRMv1 penalty"):
        namespace["penalty"](None, None)


def test_strip_markers_keeps_the_solution():
    plain = strip_markers(SOURCE)
    assert "SOLUTION" not in plain and "return grad_of(scale) ** 2" in plain and "    return 0.05\n" in plain


@pytest.mark.parametrize("text,problem", [
    ("# BEGIN SOLUTION\nx = 1\n", "line 1: BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION\n", "line 2: END SOLUTION without BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n",
     "line 2: BEGIN SOLUTION inside the block opened at line 1"),
])
def test_unbalanced_markers_name_the_line(text, problem):
    with pytest.raises(MarkerError, match=problem):
        strip_python(text, "model.py")


def test_solution_text_repeated_outside_a_block_is_caught():
    text = ("# BEGIN SOLUTION\nanswer = compute_the_secret(42)\n# END SOLUTION\n"
            "# hint: answer = compute_the_secret(42)\n")
    # the same line outside the block is the author's choice; a line only in the block must not survive
    assert "compute_the_secret" in strip_python(text, "m.py")
    with pytest.raises(MarkerError, match="leak"):
        from grader.course import skeleton
        skeleton._check_no_leak("", "answer = compute_the_secret(42)\n", ["answer = compute_the_secret(42)"], "m.py")


def test_notebook_cells_outputs_and_metadata_are_cleared():
    nb = nbformat.v4.new_notebook()
    nb.metadata["solution_notes"] = "the answer is 42"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("def kl(mu):\n    # BEGIN SOLUTION\n"
                                     "    return 0.5 * mu ** 2\n    # END SOLUTION\n")
    cell.outputs = [nbformat.v4.new_output("stream", text="1.306853")]
    cell.execution_count = 7
    cell.metadata["tags"] = ["graded"]
    cell.metadata["solution"] = "0.5 * mu ** 2"
    nb.cells = [nbformat.v4.new_markdown_cell("# Task"), cell]
    out = strip_notebook(nbformat.writes(nb), "cvae.ipynb")
    result = nbformat.reads(out, as_version=4)
    code = result.cells[1]
    assert "raise NotImplementedError" in code.source and "0.5 * mu" not in out and "the answer is 42" not in out
    assert code.outputs == [] and code.execution_count is None and code.metadata == {"tags": ["graded"]}
    assert "kernelspec" in result.metadata
    nbformat.validate(result)


def test_generate_and_check_in_sync(tmp_path):
    solution = tmp_path / "solutions" / "a"
    solution.mkdir(parents=True)
    (solution / "model.py").write_text(SOURCE)
    (solution / "run.sh").write_text("#!/bin/sh\n")
    (solution / "run.sh").chmod(0o755)
    (solution / "IRM_log.txt").write_text("Summary: {}")
    skeleton = tmp_path / "skeleton" / "a"
    assert sorted(generate(solution, skeleton, {"IRM_log.txt"})) == ["model.py", "run.sh"]
    assert (skeleton / "run.sh").stat().st_mode & 0o111
    assert check_in_sync(solution, skeleton, {"IRM_log.txt"}) == []
    (solution / "model.py").write_text(SOURCE.replace("0.05", "0.1"))
    (skeleton / "stale.py").write_text("")
    assert check_in_sync(solution, skeleton, {"IRM_log.txt"}) == ["extra stale.py"]
    (solution / "model.py").write_text(SOURCE + "\nX = 1\n")
    assert "differs model.py" in check_in_sync(solution, skeleton, {"IRM_log.txt"})


def test_shipped_skeletons_are_in_sync():
    from grader.commands.build import out_of_sync

    for assignment_id in catalog.list_ids():
        assert out_of_sync(catalog.load(assignment_id)) == [], f"run `grader build {assignment_id}`"


def _fake_python(tmp_path):
    """A stand-in interpreter that records how run.sh calls it (arguments and GRADER_SEED)."""
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "fake-python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "GRADER_SEED=${GRADER_SEED:-} $*" >> "$CALLS"\n')
    fake.chmod(0o755)
    return fake, calls


def _seeds_passed(calls) -> set[int]:
    import re

    text = calls.read_text()
    return {int(s) for s in re.findall(r"--seed (\d+)", text) + re.findall(r"GRADER_SEED=(\d+)", text)}


@pytest.mark.parametrize("assignment_id", shipped_ids())
def test_the_handout_run_sh_seeds_every_run_by_the_assignment_seed_rule(assignment_id, tmp_path):
    import shutil
    import subprocess

    from grader.steps.pipeline import seed_for

    assignment = catalog.load(assignment_id)
    handout = tmp_path / "handout"
    shutil.copytree(assignment.skeleton_dir, handout)
    fake, calls = _fake_python(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "CALLS": str(calls)}
    done = subprocess.run(["bash", "run.sh", "12332426"], cwd=handout, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert _seeds_passed(calls) == {seed_for("12332426", assignment.spec.seed)} == {2426}
    short = subprocess.run(["bash", "run.sh", "1" * (assignment.spec.seed.digits - 1)], cwd=handout, env=env,
                           capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and f"the seed is its last {assignment.spec.seed.digits}" in short.stderr


@pytest.mark.parametrize("assignment_id", ["colored_mnist", "channel_shift", "cnn_transfer", "cvae_ood"])
def test_the_handout_run_sh_exports_the_threads_and_wait_policy_the_grader_gives_a_step(assignment_id, tmp_path):
    import shutil
    import subprocess

    from grader.sandbox.base import step_environment

    assignment = catalog.load(assignment_id)
    handout = tmp_path / "handout"
    shutil.copytree(assignment.skeleton_dir, handout)
    keys = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "OMP_WAIT_POLICY",
            "KMP_BLOCKTIME", "GOMP_SPINCOUNT"]
    record = tmp_path / "env.txt"
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\n" + "".join(f'echo "{key}=${{{key}:-}}" >> "$RECORD"\n' for key in keys))
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "RECORD": str(record)}
    done = subprocess.run(["bash", "run.sh", "12332426"], cwd=handout, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    want = step_environment(assignment.spec.limits)
    assert set(record.read_text().splitlines()) == {f"{key}={want[key]}" for key in keys}


def test_build_holds_run_sh_to_the_seed_rule(tiny_root):
    import yaml

    from grader.commands.build import build, out_of_sync
    from grader.errors import GraderError

    root = tiny_root
    run_sh = "#!/usr/bin/env bash\nseed_digits=4\nid=$1\nseed=$((10#${id: -seed_digits}))\n"
    (root / "solutions" / "tiny" / "run.sh").write_text(run_sh)
    build(catalog.load("tiny", root))
    assert out_of_sync(catalog.load("tiny", root)) == []
    spec_path = root / "assignments" / "tiny" / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["seed"] = {"digits": 6}
    spec_path.write_text(yaml.safe_dump(spec))
    stale = out_of_sync(catalog.load("tiny", root))
    assert stale == ["run.sh has seed_digits=4, but the seed rule (assignment.yaml seed.digits) "
                     "takes the last 6 digits"]
    with pytest.raises(GraderError, match="seed_digits=4"):
        build(catalog.load("tiny", root))
    for args in (["build", "tiny"], ["build", "--check", "tiny"]):  # the real command, as an author runs it
        result = run_cli("--root", str(root), *args)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "takes the last 6 digits" in result.stdout + result.stderr


def test_run_sh_gets_the_grader_s_common_part_in_place_of_its_source_line(tmp_path):
    import subprocess

    solution = tmp_path / "solutions" / "a"
    solution.mkdir(parents=True)
    (solution / "run.sh").write_text(
        '#!/usr/bin/env bash\nseed_digits=3\nexperiments=(one two)\ngraded=(two)\n'
        'source "$(dirname "$0")/../../grader/course/run_common.sh"  # inlined\n'
        'for name in "${selected[@]}"; do run "${name}_log.txt" x.py --seed "$seed"; done\n')
    skeleton = tmp_path / "skeleton" / "a"
    generate(solution, skeleton)
    text = (skeleton / "run.sh").read_text()
    assert "run_common.sh\"" not in text and "seed=$((10#${id: -seed_digits}))" in text
    assert "sources this file" not in text  # the common part's header speaks to authors, not students
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake)}
    ran = subprocess.run(["bash", "run.sh", "12345"], cwd=skeleton, env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and (skeleton / "two_log.txt").read_text() == "x.py --seed 345\n", ran.stderr
    one = subprocess.run(["bash", "run.sh", "12345", "one"], cwd=skeleton, env=env, capture_output=True, text=True)
    assert one.returncode == 0 and (skeleton / "one_log.txt").is_file()
    wrong = subprocess.run(["bash", "run.sh", "12345", "one two"], cwd=skeleton, env=env, capture_output=True,
                           text=True)
    assert (wrong.returncode == 2
            and "unknown option or experiment one two (known: --download, one, two)" in wrong.stderr)


def test_files_the_grader_writes_are_written_and_never_taken_from_the_solution(tmp_path):
    solution = tmp_path / "solutions" / "a"
    solution.mkdir(parents=True)
    (solution / "model.py").write_text(SOURCE)
    skeleton = tmp_path / "skeleton" / "a"
    written = {"requirements.txt": "numpy==2.4.6\n"}
    assert sorted(generate(solution, skeleton, written=written)) == ["model.py", "requirements.txt"]
    assert check_in_sync(solution, skeleton, written=written) == []
    assert (check_in_sync(solution, skeleton, written={"requirements.txt": "numpy==2.4.7\n"})
            == ["differs requirements.txt"])
    (solution / "requirements.txt").write_text("numpy\n")
    with pytest.raises(GraderError, match="written by grader build"):
        generate(solution, skeleton, written=written)


def test_requirements_are_the_image_s_and_the_assignment_s_extras():
    import dataclasses

    from grader.commands.build import requirements_text
    from grader.sandbox.image import STUDENT_REQUIREMENTS

    assignment = catalog.load("channel_shift")
    assert requirements_text(assignment).splitlines()[-len(STUDENT_REQUIREMENTS):] == STUDENT_REQUIREMENTS
    extras = assignment.spec.model_copy(update={"requirements": ["einops==0.8.1", "numpy==2.4.6"]})
    lines = requirements_text(dataclasses.replace(assignment, spec=extras)).splitlines()
    assert lines[-1] == "einops==0.8.1" and lines.count("numpy==2.4.6") == 1
    from pydantic import ValidationError

    from grader.course.spec import AssignmentSpec

    with pytest.raises(ValidationError, match="must be pinned"):
        AssignmentSpec.model_validate({"title": "t", "editable": ["m.py"], "requirements": ["einops"]})



@pytest.mark.parametrize("threads", [1, 3])
def test_the_handout_run_sh_exports_an_assignments_own_thread_count(tmp_path, threads):
    """An assignment that sets limits.threads (or other cpus) gets that count in its handout's
    run.sh, as the grader gives each step: a student's own run computes what the grader's does."""
    import subprocess

    from grader.course.skeleton import inline_run_common

    source = ("seed_digits=4\nexperiments=(main)\ngraded=(main)\nsource ../run_common.sh\n"
              'echo "threads=$OMP_NUM_THREADS"\n')
    run_sh = tmp_path / "run.sh"
    run_sh.write_text(inline_run_common(source, threads))
    done = subprocess.run(["bash", "run.sh", "12345678"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert f"threads={threads}" in done.stdout, done.stderr
