"""The generic runner of declared hidden tests: runs in the sandbox, beside the student's code.

A rubric's tests item may declare its cases as data (`cases:` in rubrics/<id>.yaml) instead
of writing a runner file. The grader writes them into a small runner file that calls
`register(cases)`; runner_kit runs that file like any other runner, so each declared case is
an `@case` of the same process and records its outputs the same way. A case names a student
function or class (`module:attribute`, or `notebook.ipynb:function` for a notebook's
`functions` cells), calls it on inputs built here from the declaration alone (tensors from
their own seeded generator, never the global random state, and built afresh for every call),
optionally calls methods of what it returned, and records return values and attributes.

Imports nothing of the host: only the standard library, runner_kit and notebook of
grader/inside/, and torch or numpy for tensors.
"""

from __future__ import annotations

import importlib
import importlib.util

from grader.inside.runner_kit import case

DEFAULT_OUTPUT = "result"


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def make_tensor(spec: dict):
    """A tensor from its declaration alone: the same on every run, whatever the student's code did."""
    lib = spec.get("lib") or ("torch" if _torch_available() else "numpy")
    dtype = spec.get("dtype")
    if lib == "torch":
        import torch

        torch_dtype = getattr(torch, dtype) if dtype else None
        if "values" in spec:
            value = torch.tensor(spec["values"], dtype=torch_dtype)
        else:
            shape, gen = list(spec["tensor"]), torch.Generator().manual_seed(int(spec.get("seed", 0)))
            low, high, dist = float(spec.get("low", 0.0)), float(spec.get("high", 1.0)), spec.get("dist", "normal")
            if dist == "integers":
                value = torch.randint(int(low), int(high), shape, generator=gen, dtype=torch_dtype or torch.int64)
            else:
                draw = torch.randn if dist == "normal" else torch.rand
                value = draw(shape, generator=gen, dtype=torch.float64)
                value = (value * (high - low) + low if dist == "uniform" else value).to(torch_dtype or torch.float32)
        return value.requires_grad_(True) if spec.get("requires_grad") else value
    import numpy as np

    if "values" in spec:
        return np.asarray(spec["values"], dtype=dtype)
    shape, rng = tuple(spec["tensor"]), np.random.default_rng(int(spec.get("seed", 0)))
    low, high, dist = float(spec.get("low", 0.0)), float(spec.get("high", 1.0)), spec.get("dist", "normal")
    if dist == "integers":
        return rng.integers(int(low), int(high), size=shape).astype(dtype or "int64")
    value = rng.standard_normal(shape) if dist == "normal" else rng.uniform(low, high, size=shape)
    return value.astype(dtype or "float32")


def build(value):
    """A declared input made into the value the student's code gets (a fresh copy per call)."""
    if isinstance(value, dict):
        if "tensor" in value or "values" in value:
            return make_tensor(value)
        return {k: build(v) for k, v in value.items()}
    if isinstance(value, list):
        return [build(v) for v in value]
    return value


def resolve(target: str):
    """`module:attr.attr` (an editable .py file) or `notebook.ipynb:attr` (its functions cells)."""
    module_name, _, attribute = target.partition(":")
    if module_name.endswith(".ipynb"):
        from grader.inside.notebook import import_function_cells

        obj = import_function_cells(module_name)
    else:
        obj = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def run_case(declared: dict) -> dict:
    """One declared case: the call, its method calls in turn, the recorded outputs."""
    fn = resolve(declared["call"])
    made = fn(*build(declared.get("args", [])), **build(declared.get("kwargs", {})))
    outputs = {}
    then, record = declared.get("then", []), declared.get("record", [])
    if declared.get("output") or not (any(c.get("output") for c in then) or record):
        outputs[declared.get("output") or DEFAULT_OUTPUT] = made
    for call in then:
        returned = getattr(made, call["method"])(*build(call.get("args", [])), **build(call.get("kwargs", {})))
        if call.get("output"):
            outputs[call["output"]] = returned
    for attribute in record:
        outputs[attribute] = getattr(made, attribute)
    return outputs


def register(cases: list[dict]) -> None:
    """Each declared case as an `@case` of the runner file being loaded."""
    from grader.inside import runner_kit

    taken = {fn.__name__ for fn in runner_kit._registry}
    for declared in cases:
        if declared["name"] in taken:
            raise ValueError(f"case {declared['name']!r} is both declared and defined in the runner file")
        taken.add(declared["name"])

        def one(declared=declared):
            return run_case(declared)

        one.__name__ = one.__qualname__ = declared["name"]
        case(one)
