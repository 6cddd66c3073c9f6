"""Helpers for trusted steps: the given scripts (evaluate.py) that score what a student's process
exported, in a fresh copy of the handout that holds no student file (docs/sandbox.md#trust-model).

A trusted step reads only data: weights as plain arrays (`load_arrays`, `load_state`: npz files,
never a pickle), a torch.export program (`load_program`: loaded by safe_export without letting the
file run code) and small JSON files (`load_json`). Held-out data comes from the folder the grader
mounts for trusted steps only, drawn with the secret per-student seed (`held_out`). Every problem
with an input is one line on stderr and a non-zero exit (`fail`), never a traceback, and the result
is one `Summary: {...}` line (`print_summary`), the line grader/verdict/parse.py reads. A step that
scores several exported models (assignment.yaml `scores`) builds its data once and calls
`score_each(args.models, score)`: each model's output and Summary go into its own log.

    from grader.inside import trusted

    parser = trusted.parser(__doc__, dataset=["fashion_mnist", "mnist"])
    parser.add_argument("--weights", required=True)
    args = trusted.parse_args(parser)
    net = trusted.load_state(args.weights, make_network())
    data = trusted.held_out(args.holdout, args.secret_seed)       # images, labels, rng
    trusted.print_summary({"test_accuracy": accuracy(net, data.images, data.labels)})

Runs inside the sandbox: imports nothing of the host side of grader, and numpy and torch only
when a helper needs them.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

SUMMARY_PREFIX = "Summary:"  # grader/verdict/parse.py reads the last line that starts so
THREADS = 2  # the grader's default cores per step (limits.cpus); a step never uses more threads
HELD_OUT_SPLIT = "t10k"  # the test split's file prefix in the grader's held-out folder (idx files)


def fail(message: str) -> NoReturn:
    """Stop the step with one line on stderr (exit status 1): no traceback reaches the log."""
    raise SystemExit(str(message).splitlines()[0] if str(message) else "failed")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit]}" if text else type(exc).__name__


# --- arguments ---------------------------------------------------------------------------------

def parser(description: str | None = None, *, seed: bool = True, dataset: Any = None,
           dataset_default: str | None = "fashion_mnist", data_dir: str | None = None,
           holdout: bool = True, secret_seed: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the flags trusted steps share; add the step's own after it.

    --seed N (required): the student's seed, to rebuild what the training run saw.
    --dataset NAME: when `dataset` (the choices) is given; default `dataset_default`.
    --data_dir DIR: when `data_dir` is given: its default (e.g. os.environ.get("X_DATA", "data")).
    --holdout DIR: the grader's held-out folder (absent in a student's own run).
    --secret_seed N: the secret per-student seed; parse_args requires it with --holdout.
    """
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if seed:
        p.add_argument("--seed", type=int, required=True, help="the seed the training run used")
    if dataset is not None:
        p.add_argument("--dataset", choices=sorted(dataset), default=dataset_default)
    if data_dir is not None:
        p.add_argument("--data_dir", default=data_dir, help="folder of the training data")
    if holdout:
        p.add_argument("--holdout", default=None, metavar="DIR", help="folder of the held-out data (grader only)")
        if secret_seed:
            p.add_argument("--secret_seed", type=int, default=None, help="draws the held-out data (grader only)")
    return p


def parse_args(p: argparse.ArgumentParser, argv: list[str] | None = None, threads: int | None = THREADS):
    """`p.parse_args(argv)`, refusing --holdout without --secret_seed (where the parser has both),
    and torch held to at most `threads` threads (None: left alone)."""
    args = p.parse_args(argv)
    if getattr(args, "holdout", None) and hasattr(args, "secret_seed") and args.secret_seed is None:
        p.error("--holdout needs --secret_seed")
    if threads is not None:
        limit_threads(threads)
    return args


def limit_threads(threads: int = THREADS) -> None:
    """torch uses at most `threads` threads (as many as the grader gives a step), at least one."""
    import torch

    torch.set_num_threads(max(1, min(threads, torch.get_num_threads())))


# --- exported inputs ---------------------------------------------------------------------------

def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        fail(f"{path} not found: {what}")
    return path


def load_arrays(path: str | os.PathLike, keys: list[str] | None = None, *,
                what: str = "the training run did not save it") -> dict:
    """The arrays of an .npz file as {name: numpy array}, never unpickling anything (object
    arrays are refused); `keys`: the names that must be there (only those are returned)."""
    import numpy as np

    path = _existing(path, what)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in keys or () if k not in arrays.files]
            if missing:
                fail(f"{path}: no array named {', '.join(missing)}")
            return {k: np.asarray(arrays[k]) for k in (keys if keys is not None else arrays.files)}
    except (OSError, ValueError, EOFError) as exc:  # a pickle (object array) is a ValueError here
        fail(f"{path} is not a readable file of plain arrays ({_first_line(exc, 120)})")


def load_state(path: str | os.PathLike, module, *, what: str = "the training run did not save its weights"):
    """`module` with the weights of an .npz file, in eval mode; refuses a file whose names or
    shapes are not exactly the module's (each array takes its parameter's dtype)."""
    import torch

    expected = module.state_dict()
    arrays = load_arrays(path, what=what)
    if set(arrays) != set(expected) or any(arrays[k].shape != tuple(expected[k].shape) for k in expected):
        fail(f"{path}: weights do not fit the network (names or shapes differ)")
    module.load_state_dict({k: torch.from_numpy(arrays[k]).to(expected[k].dtype) for k in expected})
    return module.eval()


def load_json(path: str | os.PathLike, *, what: str = "the training run did not write it", kind: str = "JSON file"):
    """A small JSON file (an export's shapes or normalisation); one-line errors naming it as `kind`."""
    path = _existing(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{path} is not a valid {kind} ({_first_line(exc, 120)})")


def load_program(path: str | os.PathLike, *, what: str = "the training run did not export it"):
    """A torch.export program (ExportedProgram) loaded without letting the file run code
    (grader/inside/safe_export.py); `.module()` is the callable network."""
    from grader.inside.safe_export import load_program_without_code

    path = _existing(path, what)
    try:
        return load_program_without_code(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable or refused export is one line, not a traceback
        fail(f"{path} could not be loaded as a torch.export program ({_first_line(exc)})")


def parameter_count(program) -> int:
    """The number of parameters of an exported program (the network that makes its predictions)."""
    return int(sum(program.state_dict[name].numel() for name in program.graph_signature.parameters))


# --- held-out data -----------------------------------------------------------------------------

class HeldOut(NamedTuple):
    images: Any  # uint8, N x H x W
    labels: Any  # int64, N
    rng: Any  # numpy Generator seeded with the secret seed: every draw of the held-out data comes from it


def _read_idx(path: Path):
    import numpy as np

    with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def held_out(folder: str | os.PathLike, secret_seed: int | None) -> HeldOut:
    """The held-out split the grader mounts for trusted steps only (MNIST-family idx files,
    `t10k-images-idx3-ubyte[.gz]` and labels, as Fashion-MNIST's test split) and a generator
    seeded with the secret seed, from which every random choice about it must be drawn."""
    import numpy as np

    if secret_seed is None:
        fail("held-out data needs the secret seed (--secret_seed)")
    folder = Path(folder)
    for suffix in ("", ".gz"):
        images = folder / f"{HELD_OUT_SPLIT}-images-idx3-ubyte{suffix}"
        labels = folder / f"{HELD_OUT_SPLIT}-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            return HeldOut(_read_idx(images), _read_idx(labels).astype(np.int64), np.random.default_rng(secret_seed))
    fail(f"the held-out test split ({HELD_OUT_SPLIT}-images-idx3-ubyte[.gz]) is not in {folder}")


# --- several models in one process ------------------------------------------------------------

def add_models(p: argparse.ArgumentParser, metavar: str = "MODEL", help: str = "what to score") -> None:
    """The positional models a step scores: `LOG=MODEL` each (how the grader passes {scores}:
    MODEL's output and Summary go into the file LOG), or one bare MODEL (printed here)."""
    p.add_argument("models", nargs="+", metavar=f"[LOG=]{metavar}",
                   help=f"{help}; LOG=...: its output and Summary go into the file LOG (the grader's form)")


def _log_and_model(item: str) -> tuple[str | None, str]:
    log, sep, model = item.partition("=")
    if not sep:
        return None, item
    if not log or "/" in log or "\\" in log or log.startswith(".") or not model:
        fail(f"{item!r}: expected LOG=MODEL with LOG a plain file name")
    return log, model


def score_each(models: list[str], score: Callable[[str], dict]) -> None:
    """Score every model with `score(model) -> Summary values`, data built once by the caller:
    each `LOG=MODEL` writes what scoring it prints and its Summary into LOG; one bare MODEL prints
    them here. A model that cannot be scored (`fail`, an error) is that model's: its LOG ends
    with the reason, the others are still scored, and the step exits 1 at the end."""
    pairs = [_log_and_model(item) for item in models]
    if any(log is None for log, _ in pairs):
        if len(pairs) > 1:
            fail("give one MODEL, or LOG=MODEL for each model")
        print_summary(score(pairs[0][1]))
        return
    failed = []
    for log, model in pairs:
        with open(log, "w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
            try:
                print_summary(score(model))
            except SystemExit as exc:  # fail(): the reason is one line
                print(exc.code if isinstance(exc.code, str) else f"exit status {exc.code}", file=out, flush=True)
                failed.append(log)
            except Exception as exc:  # noqa: BLE001 - one model's error is that model's, one line, no traceback
                print(_first_line(exc), file=out, flush=True)
                failed.append(log)
        print(f"{model}: {'not scored, see ' + log if log in failed else 'scored'} ({log})", flush=True)
    if failed:
        fail(f"{len(failed)} of {len(pairs)} models not scored: {', '.join(failed)}")


# --- the result --------------------------------------------------------------------------------

def _plain(key: str, value):
    if isinstance(value, bool):
        return int(value)
    if type(value) not in (int, float) and hasattr(value, "item"):  # numpy and torch scalars (np.float64 is a float)
        value = _plain(key, value.item())
    if not isinstance(value, numbers.Real):
        raise TypeError(f"Summary value {key!r} is not a number: {type(value).__name__}")
    return value if isinstance(value, (int, float)) else float(value)


def summary_line(values: dict) -> str:
    """`Summary: {...}`: a dict literal of string keys and plain numbers, in the given order."""
    plain = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"Summary key {key!r} is not a string")
        plain[key] = _plain(key, value)
    return f"{SUMMARY_PREFIX} {plain!r}"


def print_summary(values: dict) -> None:
    """Print the step's result, the last line the grader reads (flushed: a later crash keeps it)."""
    print(summary_line(values), flush=True)


def run(main: Callable[[], Any]) -> NoReturn:
    """A trusted script's `if __name__ == "__main__": trusted.run(main)`: the exit status is
    main's (0, its SystemExit's, or 1 after the traceback of an error), and the process ends
    without the interpreter's teardown once its logs are written (grader/inside/quick_exit.py:
    1.2-1.4 s with torch's CUDA build, often more than the scoring)."""
    import traceback

    from grader.inside.quick_exit import exit_status, quick_exit

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exit_status(exc.code)
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints it
        traceback.print_exc()
        code = 1
    quick_exit(code)


__all__ = ["HeldOut", "add_models", "fail", "held_out", "limit_threads", "load_arrays", "load_json", "load_program",
           "load_state", "parameter_count", "parse_args", "parser", "print_summary", "run", "score_each",
           "summary_line"]
