"""Runner of the CNN's hidden tests: builds the student's CNN on fixed inputs and records
shapes, parameter counts and initial-weight statistics (the checker in cnn_model_check.py
decides what is right)."""

from grader.inside.runner_kit import case

LAYERS = ("conv1", "conv2", "conv3", "conv4", "fc1", "fc2")


def _layer(model, name):
    from torch import nn

    module = getattr(model, name, None)
    return module if isinstance(module, nn.Module) else None


@case
def output_shape_for_a_batch_of_four():
    import torch
    from model import CNN

    return {"shape": list(CNN()(torch.randn(4, 3, 32, 32)).shape)}


@case
def layer_output_sizes():
    import torch
    from model import CNN

    model = CNN()
    seen = {}
    for name in LAYERS[:4]:
        layer = _layer(model, name)
        if layer is not None:
            layer.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, list(o.shape[1:])))
    model(torch.randn(2, 3, 32, 32))
    return {name: seen.get(name, "missing") for name in LAYERS[:4]}


@case
def parameters_per_layer():
    from model import CNN

    model = CNN()
    return {name: (sum(p.numel() for p in layer.parameters()) if (layer := _layer(model, name)) is not None
                   else "missing")
            for name in LAYERS}


@case
def initial_weight_std():
    import torch
    from model import CNN

    torch.manual_seed(553)
    pooled = {name: [] for name in LAYERS}
    for _ in range(10):  # ten initialisations: the small layers' std is then known to about 1%
        model = CNN()
        for name in LAYERS:
            weight = getattr(_layer(model, name), "weight", None)
            if isinstance(weight, torch.Tensor):
                pooled[name].append(weight.detach().flatten().double())
    stats = {}
    for name, parts in pooled.items():
        weights = torch.cat(parts) if parts else None
        stats[name] = {"std": weights.std().item(), "mean": weights.mean().item()} if weights is not None else "missing"
    return stats


@case
def biases_start_at_zero():
    import torch
    from model import CNN

    model = CNN()
    largest = {}
    for name in LAYERS:
        bias = getattr(_layer(model, name), "bias", None)
        largest[name] = bias.detach().abs().max().item() if isinstance(bias, torch.Tensor) else "missing"
    return largest


@case
def count_parameters_counts_trainable_only():
    from model import CNN, count_parameters

    model = CNN()
    everything = count_parameters(model)
    for p in model.conv4.parameters():
        p.requires_grad = False
    return {"all_trainable": everything, "conv4_frozen": count_parameters(model)}
