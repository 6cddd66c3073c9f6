"""Saving and restoring training state, and the model file the grader scores.

The course's helper asked on the keyboard which epoch to restore whenever checkpoints
existed; a grader (or any batch job) would hang on that prompt forever. Here the choice is
an argument: restore the latest epoch, a given one, or none. Nothing reads stdin."""

import json
import re
from pathlib import Path

import torch

CHECKPOINT_PATTERN = re.compile(r"epoch=(\d+)\.checkpoint\.pth$")


def save_checkpoint(model, epoch, checkpoint_dir, stats=None):
    folder = Path(checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state = {"epoch": epoch, "state_dict": model.state_dict(), "stats": stats or []}
    torch.save(state, folder / f"epoch={epoch}.checkpoint.pth")


def saved_epochs(checkpoint_dir):
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.search(p.name)))


def restore_checkpoint(model, checkpoint_dir, epoch="latest"):
    """Load epoch `epoch` ("latest", an int, or None for a fresh start) into model.

    Returns (model, start_epoch, stats): training resumes at start_epoch. Never prompts."""
    epochs = saved_epochs(checkpoint_dir)
    if epoch is None or not epochs:
        return model, 0, []
    chosen = epochs[-1] if epoch == "latest" else int(epoch)
    if chosen not in epochs:
        raise SystemExit(f"no checkpoint for epoch {chosen} in {checkpoint_dir} (have {epochs})")
    state = torch.load(Path(checkpoint_dir) / f"epoch={chosen}.checkpoint.pth", map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    print(f"restored epoch {chosen} from {checkpoint_dir}")
    return model, chosen, state["stats"]


def export_for_grading(model, mean, std, folder, image_size=32):
    """Writes the trained network as a torch.export program plus the input normalisation.
    The grader scores this file in a separate process that never imports your code."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = (torch.zeros(2, 3, image_size, image_size),)
    program = torch.export.export(model, example, dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(program, folder / "model.pt2")
    (folder / "normalization.json").write_text(json.dumps({"mean": list(mean), "std": list(std), "image_size": image_size}))
