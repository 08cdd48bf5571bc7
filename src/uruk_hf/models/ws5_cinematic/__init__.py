"""The WS5 cinematic renderer: its config, model and processor (its registry entry and lifecycle:
`recipe_ws5_cinematic`)."""

from ..gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from .configuration_ws5_cinematic import UrukWS5CinematicConfig
from .modeling_ws5_cinematic import UrukWS5CinematicRenderer

__all__ = ["UrukGBufferProcessor", "UrukWS5CinematicConfig", "UrukWS5CinematicRenderer"]
