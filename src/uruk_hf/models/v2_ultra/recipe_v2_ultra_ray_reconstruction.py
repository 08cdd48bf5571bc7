"""V2-Ultra in ray-reconstruction mode: its registry entry and its lifecycle.

The mode where users would otherwise run Intel Open Image Denoise or DLSS Ray Reconstruction: the input is one
path-traced sample per pixel (`path_1spp`, indirect light included) with the G-buffer, the screen-space extras and
the model's own warped previous output (`RAY_RECONSTRUCTION_LAYOUT`), instead of V2-Ultra's 16-spp direct-light
render. A 5x5 filter over a single noisy sample sees 25 samples; the frame head here adds a grid of 3x3 box averages
three pixels apart under the same softmax (`frame_kernel_dilations=[1, 3]`: 50 taps that average every sample of a
15x15 neighbourhood) and two per-surface taps, the pixel's surface averaged over its 4x4 and its 16x16-pixel cell
(`frame_surface_cells=[4, 16]`: up to 256 samples, never across an edge), and the demodulated shading term predicts
the smooth irradiance directly, as OIDN predicts the whole frame. It also blends its own reprojected previous output
into the frame where the reprojection holds (`temporal_blend`, as TAA and SVGF accumulate samples over frames), so
one sample per pixel per frame adds up.

It warm-starts from a V2-Ultra student (same size and G-buffer: its trunk and material head carry over; the wider
filter's projection starts fresh at the identity filter), then Smoke -> Calibration (skipped when a learning rate is
given: the pipeline passes the one V2-Ultra's Calibration chose) -> Production of frame + materials, gated against
the 1-spp input. It does not train from scratch: measured at the quick preset, a fresh model at the calibrated 4e-3
blew its filter logits up to 1e6 within 40 steps, after which one 3x3 box tap held all the weight and the frame
stopped learning (27.26 dB validation, frozen, against 29.57 warm-started in half the time).
"""

import json
from functools import partial
from pathlib import Path

from ...catalog import Family, ModelEntry, TrainOption
from ...schema import RAY_RECONSTRUCTION_LAYOUT
from ...training.losses import LossWeights
from ...training.run import TIME_SCALE_OPTION, Lifecycle, positive_number, scaled_time_budgets
from .configuration_v2_ultra import UrukV2UltraConfig
from .modeling_v2_ultra import UrukV2Ultra

__all__ = [
    "FAMILY",
    "RAY_RECONSTRUCTION_LOSS",
    "RAY_RECONSTRUCTION_OVERRIDES",
    "WARM_START_REINITIALIZED",
    "train_v2_ultra_ray_reconstruction",
]

RAY_RECONSTRUCTION_OVERRIDES = (
    ("input_buffers", RAY_RECONSTRUCTION_LAYOUT),
    ("cheap_render_buffer", "path_1spp"),
    ("frame_kernel_dilations", [1, 3]),
    ("temporal_blend", True),
    ("frame_surface_cells", [4, 16]),
    ("screen_space_bounces", 1),
)
"""The config fields that make a V2-Ultra a ray-reconstruction model. One screen-space bounce, whatever its V2-Ultra
start has: a second, measured on two paired seeds, moved its hand-made scenes by -0.54 to +0.15 dB and costs time at
1080p, where this model must beat OIDN."""

RAY_RECONSTRUCTION_LOSS = LossWeights(l1=0.0, log_mse=0.02, material=0.2)
"""The per-frame log of the tone-mapped mean squared error (the PSNR the model is scored by, `LossWeights.log_mse`)
plus the material cross-entropy; no L1 and no MS-SSIM, which took a fifth of a training step at the quick size.
Measured against the renderers' L1 + 0.2 MS-SSIM over five paired training seeds from two V2-Ultra warm starts
(session 56 of `docs/experiments/renderers.md`): +0.18 dB on the test split (every pair), +0.45 / +0.37 / +0.27 dB
on the hand-made scenes at 64 / 128 / 256 px and +0.22 / +0.13 on the held-out scenes, material accuracy and
temporal error level. The ray-reconstruction model is ours, not the seed's, so no curriculum asks it for MS-SSIM."""

_TIME_BUDGETS = {"quick": (120.0, None)}
"""Production seconds per preset. Twice that (`--time-scale 2`, measured at the quick preset from the same warm start
and learning rate) bought +0.22 dB on the test split and +0.24 / +0.29 / +0.35 dB on the hand-made scenes at 64 /
128 / 256 px with the earlier L1 + MS-SSIM loss (+0.06 and +0.19 on the test split with `RAY_RECONSTRUCTION_LOSS`,
two seeds), but takes the renderers' quick pipeline past its 30 minutes (33:47 measured, about 30:40 with the data
stage's earlier 207 s), so the pipeline keeps 120 s."""

WARM_START_REINITIALIZED = ("frame_head.projection",)
"""The tensors a warm start from a V2-Ultra student does not copy: the filter's projection, which has a logit per tap
(25 there, 52 here, plus the temporal blend's)."""


def train_v2_ultra_ray_reconstruction(
    data: Path,
    output: Path,
    preset: str,
    resume: bool,
    seed: int = 0,
    init_from: str | Path | None = None,
    learning_rate: str | float | None = None,
    time_scale: str | None = None,
) -> dict:
    """Warm start from `init_from` (a V2-Ultra student's folder or file), then Smoke, Calibration (unless
    `learning_rate` is given) and Production (its budget times `time_scale`); writes `models/<key>`."""
    if init_from is None:
        raise ValueError(
            "The ray-reconstruction V2-Ultra initializes from a V2-Ultra student: pass init_from (e.g. a V2-Ultra "
            "run's models/v2_ultra, a .safetensors or a legacy .pt file); from scratch its filter saturates."
        )
    if learning_rate is not None:
        learning_rate = positive_number(learning_rate, "--learning-rate")
    key = "v2_ultra_ray_reconstruction"
    budgets = scaled_time_budgets(_TIME_BUDGETS, time_scale)
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, budgets, seed=seed)

    warm_model = partial(lifecycle.warm_started_model, key, init_from, WARM_START_REINITIALIZED)
    if learning_rate is None:
        model, learning_rate = lifecycle.calibrated_model(key, RAY_RECONSTRUCTION_LOSS, warm_model)
    else:
        lifecycle.smoke(warm_model(), RAY_RECONSTRUCTION_LOSS)
        model = warm_model()
    record = lifecycle.production(model, RAY_RECONSTRUCTION_LOSS, learning_rate)
    lifecycle.save_model(key, model, record)
    return lifecycle.write({"learning_rate": learning_rate, "init_from": str(init_from), "time_scale": time_scale})


def pipeline_options(pipeline_folder: Path) -> dict:
    """In the pipeline, the ray-reconstruction model warm-starts from the V2-Ultra student at the learning rate its
    Calibration chose."""
    v2_ultra = Path(pipeline_folder) / "v2_ultra"
    learning_rate = json.loads((v2_ultra / "lifecycle.json").read_text())["learning_rate"]
    return {"init_from": v2_ultra / "models" / "v2_ultra", "learning_rate": learning_rate}


FAMILY = Family(
    name="v2_ultra_rr",
    title="V2-Ultra ray reconstruction",
    dataset_kind="gbuffer_clips",
    task="uruk_hf.training.tasks.frame_reconstruction:FrameReconstructionTask",
    train=train_v2_ultra_ray_reconstruction,
    options=(
        TrainOption("--init-from", "the V2-Ultra student it starts from: a Hub-format folder, .safetensors or .pt"),
        TrainOption("--learning-rate", "skip Calibration and train at this rate (the pipeline: V2-Ultra's)"),
        TIME_SCALE_OPTION,
    ),
    requires=("v2_ultra",),
    pipeline_options=pipeline_options,
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
                "previous frame (the input OIDN and DLSS Ray Reconstruction take). The student-size V2-Ultra, "
                "warm-started from the V2-Ultra student, with a frame filter of two tap grids (pixels, and "
                "3x3 box averages 3 pixels apart) and two per-surface taps (the pixel's surface averaged over its "
                "4x4 and 16x16-pixel cell), and a per-pixel blend with its own reprojected previous frame."
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
