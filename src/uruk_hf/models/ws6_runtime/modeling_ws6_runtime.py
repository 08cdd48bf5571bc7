"""WS6 runtime optimization: a half-resolution path-traced render plus the full-resolution G-buffer (and the model's
own reprojected previous output) to the full-resolution linear-HDR frame.

It uses the shared renderer body (`uruk_hf.models.gbuffer_renderer`) with a low-resolution cheap render: the frame
head filters the albedo-demodulated bilinear upscale of `path_half` (`uruk_hf.modules.upscaling`) and adds
albedo-modulated shading, so an untrained model already returns the demodulated upscale and training learns to
denoise it and restore what the half-resolution render missed. Narrow, shallow trunks keep it a fast path.
"""

from ..gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererPreTrainedModel
from .configuration_ws6_runtime import UrukWS6RuntimeConfig

__all__ = ["UrukWS6RuntimeRenderer"]


class UrukWS6RuntimeRenderer(UrukRendererPreTrainedModel):
    """WS6 runtime optimization (the first run, the v2 rerun or the distilled student, by its config):
    `pixel_values` (21 channels at full resolution, `path_half` repeated 2x2) to a `UrukRendererOutput` with
    `frame`.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukWS6RuntimeConfig, UrukWS6RuntimeRenderer

    >>> model = UrukWS6RuntimeRenderer(UrukWS6RuntimeConfig.from_preset("tiny")).eval()
    >>> model(torch.rand(1, 21, 36, 52)).frame.shape
    torch.Size([1, 3, 36, 52])
    ```
    """

    config_class = UrukWS6RuntimeConfig
