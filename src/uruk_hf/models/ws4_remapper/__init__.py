"""The WS4 world remapper: its config, model and processor (its registry entry and lifecycle:
`recipe_ws4_remapper`)."""

from ..gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from .configuration_ws4_remapper import UrukWS4RemapperConfig
from .modeling_ws4_remapper import UrukWS4Remapper

__all__ = ["UrukGBufferProcessor", "UrukWS4Remapper", "UrukWS4RemapperConfig"]
