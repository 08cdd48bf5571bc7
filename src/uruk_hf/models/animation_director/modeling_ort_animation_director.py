"""ONNX Runtime inference of an exported Animation Director: the call takes `(characters, input_size)` input
vectors and returns the same `UrukAnimationDirectorOutput` fields as the PyTorch model."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_animation_director import UrukAnimationDirectorOutput
from .onnx_animation_director import OUTPUT_NAMES

__all__ = ["UrukORTAnimationDirector"]


class UrukORTAnimationDirector(UrukORTModel):
    """An exported Animation Director on an `onnxruntime.InferenceSession` (`from_pretrained`: `UrukORTModel`)."""

    def __call__(self, features: torch.Tensor | np.ndarray) -> UrukAnimationDirectorOutput:
        """Runs the session on `(characters, input_size)` input vectors.

        Raises:
            ValueError: wrong shape or NaN/Inf values.
        """
        array = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.config.input_size or not np.isfinite(array).all():
            raise ValueError(f"features must be finite (characters, {self.config.input_size}), got {array.shape}.")
        results = self.session.run(list(OUTPUT_NAMES), {"features": array})
        return UrukAnimationDirectorOutput(*(torch.from_numpy(value) for value in results))

    forward = __call__
