"""V2-Ultra: its config, model and processor (its registry entry and lifecycle: `recipe_v2_ultra`)."""

from ..gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from .configuration_v2_ultra import UrukV2UltraConfig
from .modeling_v2_ultra import UrukV2Ultra

__all__ = ["UrukGBufferProcessor", "UrukV2Ultra", "UrukV2UltraConfig"]
