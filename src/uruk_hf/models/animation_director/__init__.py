"""Animation Director: its config and model (its registry entry and lifecycle: `recipe_animation_director`)."""

from .configuration_animation_director import UrukAnimationDirectorConfig
from .modeling_animation_director import UrukAnimationDirector, UrukAnimationDirectorOutput

__all__ = ["UrukAnimationDirector", "UrukAnimationDirectorConfig", "UrukAnimationDirectorOutput"]
