"""Hostile code a student could append to an editable file, to forge hidden-test verdicts.
Each snippet runs when the student's module is imported inside the hidden-test step."""

# At exit, rewrite the recorded outputs so that every case looks passed (the old JUnit attack).
EXIT_HANDLER = r'''
import atexit as _atexit, glob as _glob, json as _json, os as _os, re as _re

def _forge():
    cases = {}
    for runner in _glob.glob(".grader/hidden_tests/*.py"):
        stem = _os.path.splitext(_os.path.basename(runner))[0]
        for name in _re.findall(r"@case\s+def (\w+)", open(runner).read()):
            cases[f"{stem}::{name}"] = {"outputs": {"passed": True}, "passed": True}
    for out in _glob.glob(".grader/*.json"):
        with open(out, "w") as f:
            _json.dump(cases, f)

_atexit.register(_forge)
'''

# Replace the kit's recorder so that every case records "passed" and never calls student code.
PATCH_KIT = r'''
import sys as _sys
_kit = _sys.modules.get("grader.inside.runner_kit") or _sys.modules.get("__main__")
if _kit is not None and hasattr(_kit, "to_data"):
    _kit.to_data = lambda value, depth=0: {"passed": True, "result": "ok"}
'''

# Read the reference's recorded outputs from the grader's cache and record those instead.
READ_EXPECTED = r'''
import atexit as _atexit, glob as _glob, os as _os, shutil as _shutil

def _copy_expected():
    for root in ("/root/.cache/grader/expected", _os.path.expanduser("~/.cache/grader/expected"), "/tmp/gcache/expected"):
        found = sorted(_glob.glob(root + "/*/*.json"))
        for path in found:
            for out in _glob.glob(".grader/*.json"):
                _shutil.copyfile(path, out)
            return

_atexit.register(_copy_expected)
'''  # noqa: E501 (code the forged submission runs, kept as written)

# Read the held-out labels (Fashion-MNIST's test split) from the dataset files.
READ_HELDOUT = r'''
import os as _os
HELDOUT_VISIBLE = any(_os.path.exists(f"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte{s}") for s in ("", ".gz"))
open("heldout_visible.txt", "w").write(str(HELDOUT_VISIBLE))
print("held-out labels visible:", HELDOUT_VISIBLE)
'''  # noqa: E501 (code the forged submission runs, kept as written)
