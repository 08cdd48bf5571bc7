"""Seed-style `.pt` checkpoints (DESIGN §5), written atomically and read without executing anything.

A checkpoint is a plain dict: `model_state_dict` (tensors), `config` (the model config as a plain dict),
`stage`, `epoch`, `metrics` (plain floats) and, in stage checkpoints, `optimizer_state_dict`. Every value is a
type that `torch.load(..., weights_only=True)` accepts, which is also what a bare `torch.load` does in
torch >= 2.6, so the seed card's snippet loads our files unchanged.
"""

from pathlib import Path

import torch

from .file_utils import atomic_path
from .serialization import UnreadableFileError, load_torch_file

__all__ = ["LegacyCheckpointError", "load_legacy_checkpoint", "save_legacy_checkpoint"]

REQUIRED_KEYS = ("model_state_dict", "config")


class LegacyCheckpointError(UnreadableFileError):
    """A `.pt` file is not a usable checkpoint: truncated, refused by the safe unpickler, or inconsistent."""


def save_legacy_checkpoint(
    path: str | Path,
    model_state_dict: dict[str, torch.Tensor],
    config: dict,
    stage: int | str | None = None,
    epoch: int | None = None,
    metrics: dict[str, float] | None = None,
    optimizer_state_dict: dict | None = None,
) -> Path:
    """Writes a checkpoint to `path` atomically and returns the path.

    `metrics` values are converted to plain Python floats (a tensor or numpy scalar would otherwise make the file
    depend on more than `weights_only` allows). `optimizer_state_dict` is written only when given.
    """
    checkpoint = {
        "model_state_dict": {name: tensor.detach().cpu().contiguous() for name, tensor in model_state_dict.items()},
        "config": dict(config),
        "stage": stage,
        "epoch": None if epoch is None else int(epoch),
        "metrics": {str(name): float(value) for name, value in (metrics or {}).items()},
    }
    if optimizer_state_dict is not None:
        checkpoint["optimizer_state_dict"] = optimizer_state_dict
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(checkpoint, temporary)
    return path


def load_legacy_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Reads a checkpoint with `torch.load(..., weights_only=True)` and checks its shape.

    Raises:
        FileNotFoundError: no file at `path`.
        LegacyCheckpointError: the file is truncated, not a torch file (text, JSON, ...), pickles an object the
            safe loader refuses (it is never executed), or lacks `model_state_dict` / `config`.
    """
    path = Path(path)
    try:
        checkpoint = load_torch_file(path, map_location=map_location, what="checkpoint")
    except UnreadableFileError as error:
        raise LegacyCheckpointError(str(error)) from error
    if not isinstance(checkpoint, dict):
        raise LegacyCheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict.")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise LegacyCheckpointError(f"{path} lacks the checkpoint keys {missing}; it has {sorted(checkpoint)}.")
    if not isinstance(checkpoint["config"], dict) or "model_type" not in checkpoint["config"]:
        raise LegacyCheckpointError(f"{path}: 'config' must be a plain dict with a 'model_type'.")
    return checkpoint
