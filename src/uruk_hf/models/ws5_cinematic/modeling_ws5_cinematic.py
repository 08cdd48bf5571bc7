"""WS5 cinematic renderer: 19 channels (G-buffer, direct, position, ao) to a linear-HDR frame.

It uses the shared renderer body (`uruk_hf.models.gbuffer_renderer`): a residual U-Net trunk and the frame head (a
predicted per-pixel filter over the cheap `direct` render plus albedo-modulated shading), with no material head
since WS5's task is the frame alone. Without motion and history it renders each frame independently: the cinematic
path trades temporal inputs for a wider trunk than the V2 student at full resolution.
"""

from ..gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererPreTrainedModel
from .configuration_ws5_cinematic import UrukWS5CinematicConfig

__all__ = ["UrukWS5CinematicRenderer"]


class UrukWS5CinematicRenderer(UrukRendererPreTrainedModel):
    """The WS5 cinematic renderer (production model or distilled student, by its config): `pixel_values`
    (19 channels) to a `UrukRendererOutput` with `frame`.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukWS5CinematicConfig, UrukWS5CinematicRenderer

    >>> model = UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny")).eval()
    >>> model(torch.rand(1, 19, 37, 53)).frame.shape
    torch.Size([1, 3, 37, 53])
    ```
    """

    config_class = UrukWS5CinematicConfig
