"""Runner of transfer learning's hidden tests: the structure and the trainable parameters of
load_pretrained(n) (ResNet-18 with random weights: the sandbox has no ImageNet weights, and
none are needed to see what is frozen)."""

from grader.inside.runner_kit import case


def _trainable(model):
    return {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}


@case
def final_layer_is_a_new_linear_for_the_classes():
    from torch import nn
    from transfer import load_pretrained

    fc = getattr(load_pretrained(5), "fc", None)
    return {"fc": repr(fc)[:200], "is_linear": isinstance(fc, nn.Linear),
            "in_features": getattr(fc, "in_features", -1), "out_features": getattr(fc, "out_features", -1)}


@case
def only_the_final_layer_trains():
    from transfer import load_pretrained

    trainable = _trainable(load_pretrained(5))
    return {"trainable": sum(trainable.values()), "trainable_names": ", ".join(sorted(trainable))}


@case
def two_classes():
    from transfer import load_pretrained

    return {"trainable": sum(_trainable(load_pretrained(2)).values())}
