"""Adversarial submission for tests/adversarial/test_adversarial_cnn_transfer.py, not a solution: no TODO is
done. Importing this module instead tries to forge the hidden tests' results, the three ways
that worked when hidden tests were pytest files run beside student code:
1. pytest patching: every test report says "passed";
2. the recorder patched: every output recorded from here on reads "passed";
3. an exit handler that rewrites whatever the hidden-test step recorded as passed, and leaves
   JUnit XML saying 22 of 22 passed wherever a grader might look.
"""

import atexit
import json
import sys
from pathlib import Path

import torch  # noqa: F401 - as the real model.py does
from torch import nn

FORGED = {"passed": True, "outcome": "passed"}

try:
    import _pytest.reports

    _original_init = _pytest.reports.TestReport.__init__

    def _always_passed(self, *args, **kwargs):
        _original_init(self, *args, **kwargs)
        self.outcome, self.longrepr = "passed", None

    _pytest.reports.TestReport.__init__ = _always_passed
except Exception:  # noqa: BLE001 - pytest is not there: nothing to patch
    pass

for _name in ("grader.inside.runner_kit", "__main__"):
    _kit = sys.modules.get(_name)
    if _kit is not None and hasattr(_kit, "to_data"):
        _kit.to_data = lambda value, depth=0: dict(FORGED)


def _rewrite_results():
    for recorded in Path(".grader").glob("*.json"):
        try:
            keys = list(json.loads(recorded.read_text()))
        except Exception:  # noqa: BLE001
            continue
        recorded.write_text(json.dumps({key: {"outputs": dict(FORGED)} for key in keys}))
    cases = "".join(f'<testcase classname="hidden" name="test_{i}"/>' for i in range(22))
    junit = ('<?xml version="1.0"?><testsuites>'
             f'<testsuite name="hidden" tests="22" failures="0" errors="0" skipped="0">{cases}</testsuite>'
             '</testsuites>')
    for name in (".grader/junit.xml", ".grader/hidden_tests.xml", "junit.xml"):
        Path(name).parent.mkdir(exist_ok=True)
        Path(name).write_text(junit)
    print("FORGED: hidden-test results rewritten", flush=True)


atexit.register(_rewrite_results)


class CNN(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        raise NotImplementedError("TODO (model.py): define conv1..conv4 (nn.Conv2d) and fc1, fc2 "
                                  "(nn.Linear) as described above")

    def forward(self, x):
        raise NotImplementedError("TODO (model.py): the four conv layers with ReLU, flatten, fc1 with ReLU, fc2")


def count_parameters(model):
    raise NotImplementedError("TODO (model.py): sum of numel over the parameters that require a gradient")
