from .configuration_v2_optimized import UrukV2OptimizedConfig
from .modeling_v2_optimized import UrukV2Optimized

__all__ = ["UrukV2Optimized", "UrukV2OptimizedConfig"]
