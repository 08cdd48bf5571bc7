"""ONNX Runtime inference of an exported WS4 world remapper: the same call and output as the PyTorch model."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_ws4_remapper import UrukWS4RemapperOutput

__all__ = ["UrukORTWS4Remapper"]


class UrukORTWS4Remapper(UrukORTModel):
    """An exported WS4 world remapper on an `onnxruntime.InferenceSession` (`from_pretrained`: `UrukORTModel`)."""

    def __call__(self, pixel_values, condition) -> UrukWS4RemapperOutput:
        """Runs the session on packed `(batch, num_channels, H, W)` buffers and `(batch, condition_size)`
        conditions (tensors or arrays).

        Raises:
            ValueError: wrong shapes or NaN/Inf values (the message names the input).
        """
        feeds = {}
        for name, value, shape in (
            ("pixel_values", pixel_values, (self.config.num_channels,)),
            ("condition", condition, (self.config.condition_size,)),
        ):
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            array = np.ascontiguousarray(array, dtype=np.float32)
            if array.ndim < 2 or array.shape[1:2] != shape or not np.isfinite(array).all():
                raise ValueError(f"{name} must be finite with {shape[0]} channels in axis 1, got {array.shape}.")
            feeds[name] = array
        if feeds["pixel_values"].ndim != 4 or len(feeds["condition"]) != len(feeds["pixel_values"]):
            raise ValueError("pixel_values must be (batch, channels, H, W) with one condition row per frame.")
        (frame,) = self.session.run(["frame"], feeds)
        return UrukWS4RemapperOutput(frame=torch.from_numpy(frame))

    forward = __call__
