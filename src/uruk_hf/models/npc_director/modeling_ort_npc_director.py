"""ONNX Runtime inference of an exported NPC Director, in the style of Optimum's `ORTModel`: `from_pretrained`
takes a folder or a Hub repo id (with `subfolder`), the call takes observation windows and returns the same
`UrukNPCDirectorOutput` fields as the PyTorch model."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_npc_director import UrukNPCDirectorOutput

__all__ = ["UrukORTNPCDirector"]


class UrukORTNPCDirector(UrukORTModel):
    """An exported NPC Director on an `onnxruntime.InferenceSession` (`from_pretrained`: `UrukORTModel`)."""

    def __call__(self, observations: torch.Tensor | np.ndarray) -> UrukNPCDirectorOutput:
        """Runs the session on `(batch, ticks, observation_size)` windows and returns the logits as tensors.

        Raises:
            ValueError: wrong shape, more ticks than the window, or NaN/Inf values.
        """
        if not isinstance(observations, torch.Tensor | np.ndarray):
            raise TypeError(f"observations must be a numpy array or torch tensor, got {type(observations).__name__}.")
        array = observations.detach().cpu().numpy() if isinstance(observations, torch.Tensor) else observations
        array = np.ascontiguousarray(array, dtype=np.float32)
        size, window = self.config.observation_size, self.config.window
        if array.ndim != 3 or array.shape[-1] != size or 0 in array.shape or array.shape[1] > window:
            raise ValueError(f"observations must be (batch, 1..{window} ticks, {size}), got {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError("observations hold NaN/Inf values.")
        states, moves = self.session.run(["state_logits", "move_logits"], {"observations": array})
        return UrukNPCDirectorOutput(state_logits=torch.from_numpy(states), move_logits=torch.from_numpy(moves))

    forward = __call__
