"""Hidden tests for the training helpers, on a tiny stand-in model (not the student's CNN)."""

import torch
from torch import nn

from train import accuracy, get_loss_and_optimizer, predictions, train_epoch


def test_loss_and_optimizer():
    model = nn.Linear(3, 2)
    criterion, optimizer = get_loss_and_optimizer(model)
    assert isinstance(criterion, nn.CrossEntropyLoss), f"the loss should be nn.CrossEntropyLoss, got {type(criterion).__name__}"
    assert isinstance(optimizer, torch.optim.SGD), f"the optimizer should be SGD, got {type(optimizer).__name__}"
    group = optimizer.param_groups[0]
    assert abs(group["lr"] - 1e-3) < 1e-12 and abs(group["momentum"] - 0.9) < 1e-12, (
        f"SGD needs lr 1e-3 and momentum 0.9, got {group['lr']} and {group['momentum']}")
    covered = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert covered == {id(p) for p in model.parameters()}, "the optimizer must update every parameter of the model"


def test_predictions_are_the_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5], [-1.0, -2.0, -0.5]])
    got = predictions(logits)
    assert torch.equal(torch.as_tensor(got).long(), torch.tensor([1, 0, 2])), f"predictions should be [1, 0, 2], got {got}"


def test_accuracy():
    got = accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 2, 2]))
    assert abs(float(got) - 0.75) < 1e-6, f"accuracy of 3 right out of 4 should be 0.75, got {got}"


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


def test_train_epoch_steps_once_per_batch_and_learns():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model = nn.Linear(2, 2)
    criterion, optimizer = nn.CrossEntropyLoss(), CountingSGD(model.parameters(), lr=0.5)
    before = criterion(model(x), y).item()
    train_epoch(model, loader, criterion, optimizer)
    after = criterion(model(x), y).item()
    assert optimizer.steps == 8, f"one optimizer step per batch: 8 batches, got {optimizer.steps} steps"
    assert optimizer.zero_grads >= 8, f"clear the gradients before each step: zero_grad called {optimizer.zero_grads} times"
    assert after < before, f"one epoch should lower the training loss ({before:.3f} -> {after:.3f})"
