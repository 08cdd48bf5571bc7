from .configuration_v2_ultra import UrukV2UltraConfig
from .modeling_v2_ultra import UrukV2Ultra

__all__ = ["UrukV2Ultra", "UrukV2UltraConfig"]
