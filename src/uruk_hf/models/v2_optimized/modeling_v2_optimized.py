"""V2-Optimized: the V2-Ultra task and trunk, trained reconstruction-first (rendering, material, optional GAN
stages with MS-SSIM and quality gates) from V2-Ultra's stage-1 student weights.

The architecture is the V2 student's (see `uruk_hf.models.v2_ultra.modeling_v2_ultra` for why it is a residual
U-Net with a demodulating frame head); what differs is the training recipe and therefore the weights. It is its own
`model_type` so a checkpoint always says which recipe produced it.
"""

from ..gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererPreTrainedModel
from .configuration_v2_optimized import UrukV2OptimizedConfig

__all__ = ["UrukV2Optimized"]


class UrukV2Optimized(UrukRendererPreTrainedModel):
    """The V2-Optimized renderer: `pixel_values` (32 channels) to `frame` and `material_logits`.

    Example:

    ```python
    >>> from uruk_hf import UrukV2Optimized, UrukV2OptimizedConfig, UrukV2Ultra, UrukV2UltraConfig

    >>> student = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    >>> model = UrukV2Optimized(UrukV2OptimizedConfig.from_preset("tiny"))
    >>> model.load_state_dict(student.state_dict())
    <All keys matched successfully>
    ```
    """

    config_class = UrukV2OptimizedConfig
