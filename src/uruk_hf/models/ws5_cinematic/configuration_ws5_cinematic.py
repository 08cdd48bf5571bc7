"""Configuration of the WS5 cinematic renderer, 19-channel input (10.15M; distilled student 3.55M)."""

from ...schema import WS5_LAYOUT
from ..gbuffer_renderer.configuration_gbuffer_renderer import UrukRendererConfig

__all__ = ["UrukWS5CinematicConfig"]


class UrukWS5CinematicConfig(UrukRendererConfig):
    r"""Configuration of [`UrukWS5CinematicRenderer`]. Fields are those of [`UrukRendererConfig`]; the defaults are
    the published 10.15M production model (role `"teacher"`, subfolder `workstreams/ws5_cinematic_renderer`) on the
    19-channel layout `uruk_hf.schema.WS5_LAYOUT` (the 12-channel G-buffer, `direct`, position, ao), with no
    material head. Role `"student"` is the 3.55M distilled student (subfolder `distillation/ws5_student`).
    Presets: `tiny`, `quick`, `full`.

    Example:

    ```python
    >>> from uruk_hf import UrukWS5CinematicConfig

    >>> config = UrukWS5CinematicConfig()
    >>> student_config = UrukWS5CinematicConfig.from_preset("full", role="student")
    >>> config.num_channels, config.use_material_head
    (19, False)
    ```
    """

    model_type = "uruk_ws5_cinematic"
    default_input_buffers = WS5_LAYOUT
    default_role = "teacher"
    default_use_material_head = False
    presets = {
        "tiny": {
            "teacher": {"hidden_sizes": [8, 16], "depths": [1, 1]},
            "student": {"hidden_sizes": [5, 10], "depths": [1, 1]},
        },
        "quick": {
            "teacher": {"hidden_sizes": [24, 48, 96, 128], "depths": [1, 1, 2, 2]},
            "student": {"hidden_sizes": [16, 32, 64, 80], "depths": [1, 1, 2, 2]},
        },
        "full": {
            "teacher": {"hidden_sizes": [32, 64, 128, 208, 368], "depths": [1, 1, 2, 2, 2]},
            "student": {"hidden_sizes": [24, 48, 96, 144, 184], "depths": [1, 1, 1, 2, 2]},
        },
    }
