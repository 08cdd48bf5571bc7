"""Configuration of V2-Optimized, the reconstruction-first rerun of V2-Ultra's student (6.92M budget)."""

from ...schema import V2_LAYOUT
from ..gbuffer_renderer.configuration_gbuffer_renderer import V2_TRUNK_PRESETS, UrukRendererConfig

__all__ = ["UrukV2OptimizedConfig"]


class UrukV2OptimizedConfig(UrukRendererConfig):
    r"""Configuration of [`UrukV2Optimized`]. Fields are those of [`UrukRendererConfig`]; the defaults are the
    published 6.92M model (subfolder `v2_optimized`): the V2-Ultra student's trunk rows of `V2_TRUNK_PRESETS` on the
    32-channel V2 layout with a material head, so a V2-Ultra student state dict loads into it unchanged (its warm
    start, DESIGN §4). It has one role, `"student"`. Presets: `tiny`, `quick`, `full`.

    Example:

    ```python
    >>> from uruk_hf import UrukV2OptimizedConfig

    >>> config = UrukV2OptimizedConfig()
    >>> config.model_type, config.num_channels
    ('uruk_v2_optimized', 32)
    ```
    """

    model_type = "uruk_v2_optimized"
    default_input_buffers = V2_LAYOUT
    default_role = "student"
    default_use_material_head = True
    default_global_context = True
    default_screen_space_bounces = 1
    presets = {name: {"student": rows["student"]} for name, rows in V2_TRUNK_PRESETS.items()}
