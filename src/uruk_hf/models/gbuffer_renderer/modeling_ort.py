"""ONNX Runtime inference of an exported renderer, in the style of Optimum's `ORTModel`: `from_pretrained` takes a
local folder or a Hub repo id (with `subfolder`), the call takes the processor's `pixel_values` and returns the same
`UrukRendererOutput` fields as the PyTorch model."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_gbuffer_renderer import UrukRendererOutput, check_pixel_values_finite, check_pixel_values_shape

__all__ = ["UrukORTRenderer"]


class UrukORTRenderer(UrukORTModel):
    """An exported renderer on an `onnxruntime.InferenceSession` (`from_pretrained`: `UrukORTModel`; the config
    gives the layout, labels and model type)."""

    def __call__(self, pixel_values: torch.Tensor | np.ndarray) -> UrukRendererOutput:
        """Runs the session on `(batch, num_channels, height, width)` packed buffers (as `UrukGBufferProcessor`
        returns them) and returns `frame` (linear HDR) and `material_logits` (where the model has them) as tensors.

        Raises:
            TypeError: `pixel_values` is neither a tensor nor a numpy array.
            ValueError: wrong rank or channel count (the message lists the expected layout), an empty batch or
                frame, or NaN/Inf values (the message names their buffers).
        """
        if not isinstance(pixel_values, torch.Tensor | np.ndarray):
            raise TypeError(f"pixel_values must be a numpy array or torch tensor, got {type(pixel_values).__name__}.")
        array = pixel_values.detach().cpu().numpy() if isinstance(pixel_values, torch.Tensor) else pixel_values
        array = np.ascontiguousarray(array, dtype=np.float32)
        check_pixel_values_shape(array.shape, self.config, self.config.model_type)
        check_pixel_values_finite(torch.from_numpy(array), self.config)
        results = dict(zip(self.output_names, self.session.run(self.output_names, {"pixel_values": array})))
        logits = results.get("material_logits")
        return UrukRendererOutput(
            frame=torch.from_numpy(results["frame"]),
            material_logits=None if logits is None else torch.from_numpy(logits),
        )

    forward = __call__
