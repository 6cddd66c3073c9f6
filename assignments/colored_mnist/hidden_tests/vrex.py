"""Runner of the V-REx tests: the variance term on fixed risks."""

import torch

from grader.inside.runner_kit import case


@case
def population_variance_of_risks():
    from model import VREx

    return {"variance_term": VREx(2, beta=1.0).combine({0: torch.tensor(0.3), 1: torch.tensor(0.7)}) - 0.5}


@case
def beta_weights_the_variance():
    from model import VREx

    return {"loss": VREx(2, beta=10.0).combine({0: torch.tensor(0.3), 1: torch.tensor(0.7)})}
