"""V2-Ultra in ray-reconstruction mode: its registry entry and its lifecycle.

The mode where users would otherwise run Intel Open Image Denoise or DLSS Ray Reconstruction: the input is one
path-traced sample per pixel (`path_1spp`, indirect light included) with the G-buffer, the screen-space extras and
the model's own warped previous output (`RAY_RECONSTRUCTION_LAYOUT`), instead of V2-Ultra's 16-spp direct-light
render. A 5x5 filter over a single noisy sample sees 25 samples; the frame head here adds a sparse grid three
pixels apart under the same softmax (`frame_kernel_dilations=[1, 3]`, 50 taps over 13x13), and the demodulated
shading term predicts the smooth irradiance directly, as OIDN predicts the whole frame.

Smoke -> Calibration -> Production of the student-size model (frame + materials, gate against the 1-spp input).
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...schema import RAY_RECONSTRUCTION_LAYOUT
from ...training.losses import FRAME_AND_MATERIAL_LOSS
from ...training.run import Lifecycle
from .configuration_v2_ultra import UrukV2UltraConfig
from .modeling_v2_ultra import UrukV2Ultra

__all__ = ["FAMILY", "RAY_RECONSTRUCTION_OVERRIDES", "train_v2_ultra_ray_reconstruction"]

RAY_RECONSTRUCTION_OVERRIDES = (
    ("input_buffers", RAY_RECONSTRUCTION_LAYOUT),
    ("cheap_render_buffer", "path_1spp"),
    ("frame_kernel_dilations", [1, 3]),
)
"""The config fields that make a V2-Ultra a ray-reconstruction model."""

_TIME_BUDGETS = {"quick": (240.0, None)}
"""Production seconds per preset."""


def train_v2_ultra_ray_reconstruction(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """Smoke, Calibration and Production of the ray-reconstruction V2-Ultra; writes `models/<key>`."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, seed=seed)
    _, _, learning_rate = lifecycle.train_model("v2_ultra_ray_reconstruction", FRAME_AND_MATERIAL_LOSS)
    return lifecycle.write({"learning_rate": learning_rate})


FAMILY = Family(
    name="v2_ultra_rr",
    title="V2-Ultra ray reconstruction",
    dataset_kind="gbuffer_clips",
    task="uruk_hf.training.tasks.frame_reconstruction:FrameReconstructionTask",
    train=train_v2_ultra_ray_reconstruction,
    onnx_config="uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer:UrukRendererOnnxConfig",
    models=(
        ModelEntry(
            key="v2_ultra_ray_reconstruction",
            model_class=UrukV2Ultra,
            config_class=UrukV2UltraConfig,
            role="student",
            run_folder="v2_ultra_rr/models/v2_ultra_ray_reconstruction",
            subfolder="v2_ultra_ray_reconstruction",
            budget=6_920_000,
            description=(
                "V2-Ultra in ray-reconstruction mode: reconstructs the final frame and per-pixel material classes "
                "from one path-traced sample per pixel plus the G-buffer, the screen-space extras and its own warped "
                "previous frame (the input OIDN and DLSS Ray Reconstruction take). The student-size V2-Ultra with a "
                "frame filter of two tap grids (1 and 3 pixels apart)."
            ),
            curve=("v2_ultra_rr/production",),
            config_overrides=RAY_RECONSTRUCTION_OVERRIDES,
        ),
    ),
    limitations={
        "v2_ultra_ray_reconstruction": [
            "Not part of the seed's file table: a model we add for the mode where OIDN is the reference.",
        ]
    },
)
