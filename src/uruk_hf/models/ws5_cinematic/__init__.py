from .configuration_ws5_cinematic import UrukWS5CinematicConfig
from .modeling_ws5_cinematic import UrukWS5CinematicRenderer

__all__ = ["UrukWS5CinematicConfig", "UrukWS5CinematicRenderer"]
