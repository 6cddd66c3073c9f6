"""Runner of the imbalance metrics' hidden tests (dog, label 1, is the positive class), on the
course's checked example (../shared/reference/assignments.md, section 2)."""

from grader.inside.runner_kit import case


def _example():
    import torch

    return torch.tensor([0, 0, 0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 0, 1, 1, 0])


@case
def per_class_accuracy():
    from imbalance import per_class_accuracy as per_class

    return {"per_class_accuracy": [float(v) for v in per_class(*_example())]}


@case
def precision():
    import torch
    from imbalance import precision as precision_of

    return {"precision": float(precision_of(*_example())),
            "no_positive_predicted": float(precision_of(torch.tensor([1, 0]), torch.tensor([0, 0])))}


@case
def recall():
    from imbalance import recall as recall_of

    return {"recall": float(recall_of(*_example()))}


@case
def f1():
    import imbalance

    # F1 on its own: precision and recall are the right ones here, whatever the student's are.
    saved = imbalance.precision, imbalance.recall
    imbalance.precision, imbalance.recall = (lambda *a, **k: 0.5), (lambda *a, **k: 2 / 3)
    try:
        return {"f1": float(imbalance.f1_score(*_example()))}
    finally:
        imbalance.precision, imbalance.recall = saved


@case
def weighted_cross_entropy():
    import torch
    from imbalance import weighted_loss

    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), torch.tensor([0, 1, 1])
    return {f"weights_{a:g}_{b:g}": weighted_loss([a, b])(logits, labels).item()
            for a, b in ((1.0, 1.0), (1.0, 20.0), (20.0, 1.0))}
