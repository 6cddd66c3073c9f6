"""Runner of the trainable-parameter count of load_pretrained(5) (its own file, so that it is
a count item and not one more transfer test)."""

from grader.inside.runner_kit import case


@case
def load_pretrained_5():
    from transfer import load_pretrained

    model = load_pretrained(5)
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters())}
