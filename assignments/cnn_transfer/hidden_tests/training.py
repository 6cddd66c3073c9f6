"""Runner of the training helpers' hidden tests, on tiny stand-in models (not the student's
CNN): what get_loss_and_optimizer returns, predictions, accuracy, and what one train_epoch
does to a counting optimizer and to the loss."""

from grader.inside.runner_kit import case


@case
def loss_and_optimizer():
    from torch import nn, optim
    from train import get_loss_and_optimizer

    model = nn.Linear(3, 2)
    criterion, optimizer = get_loss_and_optimizer(model)
    group = optimizer.param_groups[0] if isinstance(optimizer, optim.Optimizer) else {}
    covered = {id(p) for g in getattr(optimizer, "param_groups", []) for p in g["params"]}
    return {"criterion": type(criterion).__name__,
            "criterion_is_cross_entropy": isinstance(criterion, nn.CrossEntropyLoss),
            "optimizer": type(optimizer).__name__, "optimizer_is_sgd": isinstance(optimizer, optim.SGD),
            "lr": float(group.get("lr", float("nan"))), "momentum": float(group.get("momentum", float("nan"))),
            "parameters_updated": sum(p.numel() for p in model.parameters() if id(p) in covered),
            "parameters_of_model": sum(p.numel() for p in model.parameters())}


@case
def predictions_are_the_argmax():
    import torch
    from train import predictions

    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5], [-1.0, -2.0, -0.5]])
    return {"predictions": torch.as_tensor(predictions(logits))}


@case
def accuracy():
    import torch
    from train import accuracy as accuracy_of

    return {"accuracy": float(accuracy_of(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 2, 2])))}


@case
def train_epoch_steps_once_per_batch_and_learns():
    import torch
    from torch import nn
    from train import train_epoch

    class CountingSGD(torch.optim.SGD):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.zero_grads = self.steps = 0

        def zero_grad(self, set_to_none=True):
            self.zero_grads += 1
            super().zero_grad(set_to_none)

        def step(self, closure=None):
            self.steps += 1
            return super().step(closure)

    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model = nn.Linear(2, 2)
    criterion, optimizer = nn.CrossEntropyLoss(), CountingSGD(model.parameters(), lr=0.5)
    with torch.no_grad():
        before = criterion(model(x), y).item()
    train_epoch(model, loader, criterion, optimizer)
    with torch.no_grad():
        after = criterion(model(x), y).item()
    return {"batches": len(loader), "steps": optimizer.steps, "zero_grads": optimizer.zero_grads,
            "loss_before": before, "loss_after": after}
