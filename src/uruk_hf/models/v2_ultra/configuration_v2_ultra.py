"""Configuration of V2-Ultra, the 32-channel G-buffer renderer with a material head (teacher 37.4M, student 6.92M)."""

from ...schema import V2_LAYOUT
from ..gbuffer_renderer.configuration_gbuffer_renderer import V2_TRUNK_PRESETS, UrukRendererConfig

__all__ = ["UrukV2UltraConfig"]


class UrukV2UltraConfig(UrukRendererConfig):
    r"""Configuration of [`UrukV2Ultra`]. Fields are those of [`UrukRendererConfig`]; the defaults here are the
    published model, the 6.92M student (subfolder `v2_ultra`), on the 32-channel V2 layout
    (`uruk_hf.schema.V2_LAYOUT`: the 12-channel G-buffer, `direct`, position, view, motion, history,
    history_valid, uv, ao, shadow, mask) with a head over the 8 classes of `uruk_hf.schema.MATERIAL_CLASSES`.

    Roles: `"student"` (default, 6.92M) and `"teacher"` (37.4M, subfolder `v2_ultra_teacher`). Presets: `tiny`,
    `quick`, `full` (`from_preset`). For the ray-reconstruction layout pass
    `input_buffers=uruk_hf.schema.RAY_RECONSTRUCTION_LAYOUT, cheap_render_buffer="path_1spp"`.

    Example:

    ```python
    >>> from uruk_hf import UrukV2Ultra, UrukV2UltraConfig

    >>> config = UrukV2UltraConfig()  # the 6.92M student
    >>> teacher_config = UrukV2UltraConfig.from_preset("full", role="teacher")
    >>> model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny"))
    >>> config.num_channels
    32
    ```
    """

    model_type = "uruk_v2_ultra"
    default_input_buffers = V2_LAYOUT
    default_role = "student"
    default_use_material_head = True
    default_global_context = True
    default_screen_space_bounces = 1
    presets = V2_TRUNK_PRESETS
