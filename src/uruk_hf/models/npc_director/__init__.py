"""NPC Director v2: its config and model (its registry entry and lifecycle: `recipe_npc_director`)."""

from .configuration_npc_director import UrukNPCDirectorConfig
from .modeling_npc_director import UrukNPCDirector, UrukNPCDirectorOutput

__all__ = ["UrukNPCDirector", "UrukNPCDirectorConfig", "UrukNPCDirectorOutput"]
