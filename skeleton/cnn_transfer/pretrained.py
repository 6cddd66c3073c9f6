"""ResNet-18 with ImageNet weights when they can be had, the same architecture with random
weights when they cannot (offline, or in the grader's sandbox, which has no network).

Where the weights come from, in order: the path given (or $RESNET18_WEIGHTS), a state_dict
saved with torch.save(model.state_dict(), path); torchvision's download cache or a download
(not in the sandbox). Whichever it is, the log says so."""

import os

import torch
from torchvision.models import ResNet18_Weights, resnet18


def resnet18_backbone(weights_path=None):
    model = resnet18(weights=None)
    weights_path = weights_path or os.environ.get("RESNET18_WEIGHTS")
    if weights_path:
        model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        print(f"ResNet-18: ImageNet weights from {weights_path}")
        return model
    if os.environ.get("GRADER_SANDBOX") != "1":
        try:
            model.load_state_dict(ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False))
            print("ResNet-18: ImageNet weights (torchvision)")
            return model
        except Exception as exc:  # noqa: BLE001 - no network, no cache: fall through
            reason = f"{type(exc).__name__}: {str(exc)[:80]}"
    else:
        reason = "the grader's sandbox has no network"
    print(f"ResNet-18: RANDOM weights, no ImageNet weights available ({reason}); "
          "transfer accuracy will be low. Set RESNET18_WEIGHTS to a state_dict file to use real ones.")
    return model
