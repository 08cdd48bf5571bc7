"""V2-Ultra: a 32-channel G-buffer plus a cheap direct-light render to a linear-HDR frame and material classes.

Architecture (shared with V2-Optimized and WS5 through `uruk_hf.modules`): a residual U-Net trunk without
normalization layers, whose full-resolution features feed two heads. The frame head predicts a per-pixel 5x5
filter over the cheap render (kernel-predicting denoising, as production denoisers do) plus shading multiplied by
the albedo buffer: a renderer that starts from what the cheap render already has right, averages away its noise
and adds the light it lacks with texture detail from the albedo, instead of regenerating every pixel.
The material head classifies each pixel from the same features; the trunk's receptive field (hundreds of pixels
at the coarsest level) is what lets it use context a per-pixel classifier cannot see. The teacher and the
student differ only in width and depth (`V2_TRUNK_PRESETS`), which keeps distillation's feature spaces aligned.
"""

from ..gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererPreTrainedModel
from .configuration_v2_ultra import UrukV2UltraConfig

__all__ = ["UrukV2Ultra"]


class UrukV2Ultra(UrukRendererPreTrainedModel):
    """The V2-Ultra renderer (teacher or student, by its config): `pixel_values` from `UrukGBufferProcessor` to a
    `UrukRendererOutput` with `frame` (linear HDR) and `material_logits`.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukV2Ultra, UrukV2UltraConfig

    >>> model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()
    >>> outputs = model(torch.rand(1, 32, 37, 53))
    >>> outputs.frame.shape, outputs.material_logits.shape
    (torch.Size([1, 3, 37, 53]), torch.Size([1, 8, 37, 53]))
    ```
    """

    config_class = UrukV2UltraConfig
