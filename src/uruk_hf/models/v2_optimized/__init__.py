"""V2-Optimized: its config, model and processor (its registry entry and lifecycle: `recipe_v2_optimized`)."""

from ..gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from .configuration_v2_optimized import UrukV2OptimizedConfig
from .modeling_v2_optimized import UrukV2Optimized

__all__ = ["UrukGBufferProcessor", "UrukV2Optimized", "UrukV2OptimizedConfig"]
