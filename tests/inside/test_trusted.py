"""grader/inside/trusted.py: the helpers of trusted steps read exports as data only (no pickle, no
code from an export), fail in one line, draw held-out data from the secret seed, and print a
Summary line the grader's parser reads back to the same values."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from grader.inside import trusted
from grader.verdict.parse import parse_summary_text


def one_line_exit(caught) -> str:
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- arguments ---------------------------------------------------------------------------------

def test_the_common_flags_and_the_step_s_own():
    p = trusted.parser("doc", dataset={"mnist": 1, "fashion_mnist": 2}, data_dir="data")
    p.add_argument("--weights", required=True)
    args = trusted.parse_args(p, ["--seed", "7", "--weights", "w.npz", "--holdout", "/h", "--secret_seed", "3"],
                              threads=None)
    assert (args.seed, args.dataset, args.data_dir, args.holdout, args.secret_seed, args.weights) == (
        7, "fashion_mnist", "data", "/h", 3, "w.npz")
    args = trusted.parse_args(p, ["--seed", "7", "--weights", "w.npz"], threads=None)
    assert args.holdout is None and args.secret_seed is None


def test_held_out_data_needs_the_secret_seed(capsys):
    p = trusted.parser("doc")
    with pytest.raises(SystemExit):
        trusted.parse_args(p, ["--seed", "1", "--holdout", "/h"], threads=None)
    assert "--holdout needs --secret_seed" in capsys.readouterr().err


def test_flags_a_step_does_not_use_are_left_out():
    p = trusted.parser("doc", seed=False, secret_seed=False)
    args = trusted.parse_args(p, ["--holdout", "/h"], threads=None)
    assert args.holdout == "/h" and not hasattr(args, "seed") and not hasattr(args, "secret_seed")


def test_threads_are_limited():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        trusted.parse_args(trusted.parser("doc", seed=False), [], threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# --- arrays and JSON ---------------------------------------------------------------------------

def test_arrays_load_and_named_ones_must_be_there(tmp_path):
    np.savez(tmp_path / "w.npz", a=np.arange(3), b=np.ones((2, 2)))
    arrays = trusted.load_arrays(tmp_path / "w.npz")
    assert sorted(arrays) == ["a", "b"] and arrays["a"].tolist() == [0, 1, 2]
    assert list(trusted.load_arrays(tmp_path / "w.npz", ["b"])) == ["b"]
    with pytest.raises(SystemExit) as caught:
        trusted.load_arrays(tmp_path / "w.npz", ["a", "c"])
    assert one_line_exit(caught).endswith("no array named c")


def test_a_missing_file_names_it_and_why(tmp_path):
    with pytest.raises(SystemExit) as caught:
        trusted.load_arrays(tmp_path / "none.npz", what="the training run did not save its weights")
    assert one_line_exit(caught) == f"{tmp_path / 'none.npz'} not found: the training run did not save its weights"


class Payload:
    ran = False

    def __reduce__(self):
        return (setattr, (Payload, "ran", True))


def test_pickled_arrays_are_refused_and_never_run(tmp_path):
    np.savez(tmp_path / "evil.npz", a=np.array([Payload()], dtype=object))
    with pytest.raises(SystemExit) as caught:
        trusted.load_arrays(tmp_path / "evil.npz")
    assert "not a readable file of plain arrays" in one_line_exit(caught) and not Payload.ran
    (tmp_path / "raw.npz").write_bytes(pickle.dumps({"a": Payload()}))  # a pickle named .npz
    with pytest.raises(SystemExit) as caught:
        trusted.load_arrays(tmp_path / "raw.npz")
    assert "not a readable file of plain arrays" in one_line_exit(caught) and not Payload.ran


def test_a_state_must_fit_the_module_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(3, 2)
    np.savez(tmp_path / "w.npz", **{k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()})
    loaded = trusted.load_state(tmp_path / "w.npz", torch.nn.Linear(3, 2))
    assert not loaded.training and loaded.weight.dtype == torch.float32
    assert torch.equal(loaded.weight, net.weight.detach())
    with pytest.raises(SystemExit) as caught:
        trusted.load_state(tmp_path / "w.npz", torch.nn.Linear(4, 2))
    assert "do not fit the network" in one_line_exit(caught)
    np.savez(tmp_path / "extra.npz", weight=np.zeros((2, 3)), bias=np.zeros(2), more=np.zeros(1))
    with pytest.raises(SystemExit):
        trusted.load_state(tmp_path / "extra.npz", torch.nn.Linear(3, 2))


def test_json_errors_are_one_line_named_by_kind(tmp_path):
    (tmp_path / "n.json").write_text('{"mean": [0.5]}')
    assert trusted.load_json(tmp_path / "n.json") == {"mean": [0.5]}
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(SystemExit) as caught:
        trusted.load_json(tmp_path / "bad.json", kind="normalisation file")
    assert "is not a valid normalisation file" in one_line_exit(caught)


# --- programs ----------------------------------------------------------------------------------

def test_a_program_loads_and_counts_its_parameters(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).eval()
    x = torch.randn(5, 4)
    torch.export.save(torch.export.export(net, (x,)), tmp_path / "m.pt2")
    program = trusted.load_program(tmp_path / "m.pt2")
    assert torch.equal(program.module()(x), net(x))
    assert trusted.parameter_count(program) == sum(p.numel() for p in net.parameters()) == 23


def test_an_unreadable_program_is_one_line(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "m.pt2").write_bytes(b"not a program")
    with pytest.raises(SystemExit) as caught:
        trusted.load_program(tmp_path / "m.pt2")
    assert "could not be loaded as a torch.export program" in one_line_exit(caught)
    with pytest.raises(SystemExit) as caught:
        trusted.load_program(tmp_path / "none.pt2", what="the notebook did not export it")
    assert one_line_exit(caught).endswith("not found: the notebook did not export it")


# --- held-out data -----------------------------------------------------------------------------

def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_held_out_split_and_a_generator_from_the_secret_seed(tmp_path, suffix):
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", np.array([3, 7, 1]))
    data = trusted.held_out(tmp_path, 11)
    assert np.array_equal(data.images, images) and data.labels.tolist() == [3, 7, 1] and data.labels.dtype == np.int64
    assert data.rng.random() == np.random.default_rng(11).random()  # the draws are the secret seed's
    assert trusted.held_out(tmp_path, 12).rng.random() != np.random.default_rng(11).random()


def test_held_out_data_absent_or_unseeded_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as caught:
        trusted.held_out(tmp_path, 1)
    assert one_line_exit(caught) == f"the held-out test split (t10k-images-idx3-ubyte[.gz]) is not in {tmp_path}"
    with pytest.raises(SystemExit, match="needs the secret seed"):
        trusted.held_out(tmp_path, None)


# --- the Summary line --------------------------------------------------------------------------

def test_the_summary_reads_back_to_the_same_values(capsys):
    values = {"accuracy": 0.61234, "images": 1000, "heldout": True, "auc": np.float64(0.75), "n": np.int64(3),
              "nan": float("nan")}
    trusted.print_summary(values)
    out = capsys.readouterr().out
    assert out == ("Summary: {'accuracy': 0.61234, 'images': 1000, 'heldout': 1, 'auc': 0.75, 'n': 3, "
                   "'nan': nan}\n")
    parsed = parse_summary_text(out).values
    assert {k: v for k, v in parsed.items() if k != "nan"} == {"accuracy": 0.61234, "images": 1000.0, "heldout": 1.0,
                                                                 "auc": 0.75, "n": 3.0}


def test_the_summary_is_the_same_text_as_a_plain_dict_repr():
    """What the shipped scripts printed before the helpers, so their logs read the same."""
    values = {"val_accuracy": 0.55, "test_accuracy": 0.5175, "parameters": 303397}
    assert trusted.summary_line(values) == "Summary: " + repr(values)


@pytest.mark.parametrize("bad", [{"a": "0.5"}, {"a": [1]}, {1: 0.5}])
def test_a_summary_of_anything_but_named_numbers_is_refused(bad):
    with pytest.raises(TypeError):
        trusted.summary_line(bad)


# --- several models in one process ---------------------------------------------------------------

def test_each_model_s_output_and_summary_go_into_its_own_log(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def score(model):
        if model == "broken":
            trusted.fail("broken: weights do not fit the network")
        if model == "crash":
            raise ValueError("shapes differ\nsecond line")
        print(f"scoring {model}")
        return {"value": len(model)}

    with pytest.raises(SystemExit) as caught:
        trusted.score_each(["a_log.txt=abc", "b_log.txt=broken", "c_log.txt=crash", "d_log.txt=abcd"], score)
    assert "2 of 4 models not scored: b_log.txt, c_log.txt" in one_line_exit(caught)
    assert parse_summary_text((tmp_path / "a_log.txt").read_text()).values == {"value": 3}
    assert parse_summary_text((tmp_path / "d_log.txt").read_text()).values == {"value": 4}  # scored after failures
    assert "scoring abc" in (tmp_path / "a_log.txt").read_text()
    assert (tmp_path / "b_log.txt").read_text().strip() == "broken: weights do not fit the network"
    assert (tmp_path / "c_log.txt").read_text().strip() == "ValueError: shapes differ"
    assert "Summary" not in capsys.readouterr().out  # the step's own log only says what was scored


def test_one_bare_model_prints_its_summary_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    trusted.score_each(["weights/x"], lambda model: {"value": 1.5})
    assert parse_summary_text(capsys.readouterr().out).values == {"value": 1.5}
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("models", [["a", "b"], ["../x_log.txt=a"], ["sub/x.txt=a"], ["=a"], [".hidden=a"]])
def test_models_given_otherwise_are_one_line_errors(tmp_path, monkeypatch, models):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        trusted.score_each(models, lambda model: {"value": 1})
    one_line_exit(caught)
    assert list(tmp_path.iterdir()) == []


# --- the end of a trusted script -----------------------------------------------------------------

RUN_SCRIPT = """import atexit, sys
from grader.inside import trusted
atexit.register(lambda: open("atexit.txt", "w").write("ran"))
def main():
    print("scored", flush=False)
    {ending}
trusted.run(main)
print("never")
"""


@pytest.mark.parametrize(("ending", "status", "printed"), [
    ("pass", 0, ""),
    ("trusted.fail('weights/x.npz: missing')", 1, "weights/x.npz: missing"),
    ("sys.exit(4)", 4, ""),
    ("raise RuntimeError('bug in the scorer')", 1, "RuntimeError: bug in the scorer"),
])
def test_run_ends_with_mains_status_its_output_written_and_atexit_run(tmp_path, ending, status, printed):
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "score.py").write_text(RUN_SCRIPT.format(ending=ending))
    root = str(Path(trusted.__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "score.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == status
    assert done.stdout == "scored\n" and printed in done.stderr  # the buffered line is not lost
    assert (tmp_path / "atexit.txt").read_text() == "ran"
