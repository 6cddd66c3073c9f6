"""Loading a torch.export program that a student's process wrote, in a trusted step, without
letting the file run code.

torch.export.load has ways to run code from the file: it unpickles some payloads (torch.load
with weights_only=False, pickle.loads, TorchScript objects), parses symbolic shapes with sympy
(whose sympify evaluates strings), and resolves graph targets by name under torch. Here every
torch.load is weights-only, pickles are refused, sympy gets only plain shape expressions, and
the loaded graph may call aten operators only. Trusted steps hold the held-out labels: an
export that ran code there could print any Summary it liked."""

from __future__ import annotations

import io
import logging
import operator
import pickle
import re
import tokenize
import warnings


class UnsafeExport(ValueError):
    pass


# What a plain network's export holds besides tensors: symbolic batch sizes such as
# "Symbol('s77', positive=True, integer=True)". Everything else a file might ask sympy to parse
# (sympify evaluates its string) is refused.
SYMPY_NAMES = {"Symbol", "Integer", "Max", "Min", "Mod", "FloorDiv", "CleanDiv", "CeilToInt", "FloorToInt",
               "TruncToInt", "IntTrueDiv", "PowByNatural", "ToFloat", "positive", "negative", "nonnegative",
               "integer", "real", "finite", "True", "False"}
SYMPY_OPS = {"+", "-", "*", "/", "//", "%", "**", "(", ")", ",", "=", "<", ">", "<=", ">=", "==", "!="}


def _plain_sympy_text(text):
    tokens = tokenize.generate_tokens(io.StringIO(str(text)).readline)
    for token in tokens:
        if token.type == tokenize.NAME and not (token.string in SYMPY_NAMES or re.fullmatch(r"[a-z]\d+", token.string)):
            return False
        if token.type == tokenize.OP and token.string not in SYMPY_OPS:
            return False
        if token.type == tokenize.STRING and not re.fullmatch(r"'[a-z]\d+'", token.string):
            return False
        if token.type not in (tokenize.NAME, tokenize.OP, tokenize.STRING, tokenize.NUMBER, tokenize.NEWLINE,
                              tokenize.NL, tokenize.ENDMARKER):
            return False
    return True


def load_program_without_code(path):
    """torch.export.load of `path`, minus its ways to run code (see the module's docstring)."""
    import sympy
    import torch

    def refuse(*args, **kwargs):
        raise UnsafeExport("the file holds pickled objects, which are not loaded here")

    real_torch_load, real_sympify = torch.load, sympy.sympify

    def weights_only_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return real_torch_load(*args, **kwargs)

    def plain_sympify(value, *args, **kwargs):
        if isinstance(value, str) and not _plain_sympy_text(value):
            raise UnsafeExport(f"the file holds a shape expression that is not plain arithmetic: {value[:80]!r}")
        return real_sympify(value, *args, **kwargs)

    saved = [(torch, "load", weights_only_load), (pickle, "loads", refuse), (pickle, "load", refuse),
             (torch._C, "_pickle_load_obj", refuse), (sympy, "sympify", plain_sympify)]
    originals = [(module, name, getattr(module, name)) for module, name, _ in saved]
    for module, name, replacement in saved:
        setattr(module, name, replacement)
    logging.getLogger("torch.export").setLevel(logging.ERROR)  # its fallback warnings carry tracebacks
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(str(path))
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
    _check_graphs(program)
    return program


def _check_graphs(program):
    """Refuses a program that calls anything but aten operators (see the module's docstring)."""
    import torch
    from torch._higher_order_ops.wrap import wrap_with_set_grad_enabled

    # `torch.no_grad()` inside forward() exports as a higher-order call of a nested graph: allowed,
    # and every nested graph is held to the same rule.
    allowed = (operator.getitem, wrap_with_set_grad_enabled)
    for graph_module in program.graph_module.modules():
        graph = getattr(graph_module, "graph", None)
        for node in graph.nodes if graph is not None else ():
            if node.op == "call_function" and not (
                    any(node.target is target for target in allowed)
                    or (isinstance(node.target, torch._ops.OpOverload) and node.target.namespace == "aten")):
                raise UnsafeExport(f"the program calls {str(node.target)[:80]}, which is not an aten operator")
            if node.op in ("call_module", "call_method"):
                raise UnsafeExport(f"the program has a {node.op} node ({str(node.target)[:80]})")
