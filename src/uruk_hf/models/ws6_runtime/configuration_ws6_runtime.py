"""Configuration of WS6 runtime optimization, 21-channel input (0.38M; the v2 rerun 1.20M; distilled student
0.15M)."""

from ...schema import WS6_LAYOUT
from ..gbuffer_renderer.configuration_gbuffer_renderer import UrukRendererConfig

__all__ = ["UrukWS6RuntimeConfig"]


class UrukWS6RuntimeConfig(UrukRendererConfig):
    r"""Configuration of [`UrukWS6RuntimeRenderer`]. Fields are those of [`UrukRendererConfig`]; the defaults are the
    published 0.38M model (role `"v1"`, subfolder `workstreams/ws6_runtime_optimization`) on the 21-channel layout
    `uruk_hf.schema.WS6_LAYOUT` (the full-resolution G-buffer, `path_half`, motion, history), refining the
    albedo-demodulated 2x upscale of `path_half` (`cheap_render_divisor=2`), with no material head. Role `"v2"` is
    the 1.20M rerun (`workstreams/ws6_runtime_optimization_v2`), role `"student"` the 0.15M student distilled from it
    (`distillation/ws6_student`) with a 3x3 frame filter in place of 5x5 and no residual blocks at full resolution
    (`depths[0] = 0`: the stem's features and the upsampled coarser levels feed the frame head): at 1080p most of a
    frame's time is full-resolution work, and its parameters sit in the coarse levels anyway. Presets: `tiny`,
    `quick`, `full`.

    Example:

    ```python
    >>> from uruk_hf import UrukWS6RuntimeConfig

    >>> config = UrukWS6RuntimeConfig()
    >>> config.num_channels, config.cheap_render_buffer, config.cheap_render_divisor
    (21, 'path_half', 2)
    ```
    """

    model_type = "uruk_ws6_runtime"
    default_input_buffers = WS6_LAYOUT
    default_role = "v1"
    default_use_material_head = False
    presets = {
        "tiny": {
            "v1": {"hidden_sizes": [8, 16], "depths": [1, 1]},
            "v2": {"hidden_sizes": [12, 24], "depths": [1, 1]},
            "student": {"hidden_sizes": [4, 8], "depths": [0, 1]},
        },
        "quick": {
            "v1": {"hidden_sizes": [12, 24, 48, 64], "depths": [1, 1, 1, 1]},
            "v2": {"hidden_sizes": [16, 32, 64, 128], "depths": [1, 1, 1, 1]},
            "student": {"hidden_sizes": [8, 16, 32, 48], "depths": [0, 1, 1, 1], "frame_kernel_size": 3},
        },
        "full": {
            "v1": {"hidden_sizes": [16, 32, 64, 80], "depths": [1, 1, 1, 1]},
            "v2": {"hidden_sizes": [24, 48, 96, 176], "depths": [1, 1, 1, 1]},
            "student": {"hidden_sizes": [8, 16, 32, 64], "depths": [0, 1, 1, 1], "frame_kernel_size": 3},
        },
    }

    def __init__(self, cheap_render_buffer: str = "path_half", cheap_render_divisor: int = 2, **kwargs):
        super().__init__(cheap_render_buffer=cheap_render_buffer, cheap_render_divisor=cheap_render_divisor, **kwargs)
