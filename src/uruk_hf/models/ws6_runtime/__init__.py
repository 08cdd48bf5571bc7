"""WS6 runtime optimization: its config, model and processor (its registry entry and lifecycle:
`recipe_ws6_runtime`)."""

from ..gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from .configuration_ws6_runtime import UrukWS6RuntimeConfig
from .modeling_ws6_runtime import UrukWS6RuntimeRenderer

__all__ = ["UrukGBufferProcessor", "UrukWS6RuntimeConfig", "UrukWS6RuntimeRenderer"]
