"""Checker of the training helpers' hidden tests (runs in the grader, never imports student code)."""

from grader.verdict.checker import fmt, scalar


def check_loss_and_optimizer(got, expected):
    if got.get("criterion_is_cross_entropy") is not True:
        return f"the loss should be nn.CrossEntropyLoss, got {got.get('criterion')}"
    if got.get("optimizer_is_sgd") is not True:
        return f"the optimizer should be SGD, got {got.get('optimizer')}"
    lr, momentum = scalar(got.get("lr")), scalar(got.get("momentum"))
    want_lr, want_momentum = scalar(expected["lr"]), scalar(expected["momentum"])
    if not (abs(lr - want_lr) <= 1e-12 and abs(momentum - want_momentum) <= 1e-12):
        return f"SGD needs lr {want_lr:g} and momentum {want_momentum:g}, got {lr:g} and {momentum:g}"
    updated, total = scalar(got.get("parameters_updated")), scalar(got.get("parameters_of_model"))
    if not (updated == total and total == scalar(expected["parameters_of_model"])):
        return f"the optimizer must update every parameter of the model: it holds {updated:g} of {total:g}"
    return None


def check_train_epoch_steps_once_per_batch_and_learns(got, expected):
    batches, steps, zero_grads = (scalar(got.get(k)) for k in ("batches", "steps", "zero_grads"))
    before, after = scalar(got.get("loss_before")), scalar(got.get("loss_after"))
    want = scalar(expected["steps"])
    if not (steps == want and batches == want):
        return f"one optimizer step per batch: {want:g} batches, got {steps:g} steps"
    if not zero_grads >= want:
        return f"clear the gradients before each step: zero_grad called {zero_grads:g} times for {want:g} batches"
    if not after < before:
        return (f"one epoch should lower the training loss ({fmt(got.get('loss_before'), 4)} "
                f"-> {fmt(got.get('loss_after'), 4)})")
    return None
