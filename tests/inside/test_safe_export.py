"""grader/inside/safe_export.py: exports a student's process wrote load without running code, and the
ordinary ones (including a forward pass under torch.no_grad(), as the cvae_ood notebook's
scorer has) load and compute what they computed when exported."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from grader.inside.safe_export import UnsafeExport, load_program_without_code  # noqa: E402


class NoGradScorer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        with torch.no_grad():
            scores = self.linear(x).sum(dim=1)
        return scores, scores.argmax(dim=0)


def test_a_forward_under_no_grad_loads_and_computes_the_same(tmp_path):
    torch.manual_seed(0)
    module, x = NoGradScorer().eval(), torch.randn(3, 4)
    torch.export.save(torch.export.export(module, (x,)), tmp_path / "scorer.pt2")
    program = load_program_without_code(tmp_path / "scorer.pt2")
    got = program.module()(x)
    assert torch.equal(got[0], module(x)[0]) and torch.equal(got[1], module(x)[1])


def test_a_program_calling_python_code_is_refused(tmp_path):
    torch.manual_seed(0)
    module, x = NoGradScorer().eval(), torch.randn(3, 4)
    program = torch.export.export(module, (x,))
    node = next(n for n in program.graph.nodes if n.op == "call_function")
    node.target = print  # what a hand-edited file could name instead of an operator
    with pytest.raises(UnsafeExport, match="not an aten operator"):
        from grader.inside import safe_export

        safe_export._check_graphs(program)


def test_python_code_inside_the_no_grad_graph_is_refused(tmp_path):
    """The nested graph the no_grad wrapper calls is held to the same rule as the outer one."""
    torch.manual_seed(0)
    module, x = NoGradScorer().eval(), torch.randn(3, 4)
    program = torch.export.export(module, (x,))
    nested = [m for m in program.graph_module.modules() if m is not program.graph_module and hasattr(m, "graph")]
    assert nested, "the no_grad block should export as a nested graph"
    node = next(n for n in nested[0].graph.nodes if n.op == "call_function")
    node.target = print
    from grader.inside import safe_export

    with pytest.raises(UnsafeExport, match="not an aten operator"):
        safe_export._check_graphs(program)
