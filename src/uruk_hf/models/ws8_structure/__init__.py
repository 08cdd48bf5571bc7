"""The WS8 structure generator: its config and model (its registry entry and lifecycle: `recipe_ws8_structure`)."""

from .configuration_ws8_structure import UrukWS8StructureGeneratorConfig
from .modeling_ws8_structure import (
    BlockGeometryTemperatureLogitsProcessor,
    StructureFieldLogitsProcessor,
    UrukWS8StructureGenerator,
)

__all__ = [
    "BlockGeometryTemperatureLogitsProcessor",
    "StructureFieldLogitsProcessor",
    "UrukWS8StructureGenerator",
    "UrukWS8StructureGeneratorConfig",
]
