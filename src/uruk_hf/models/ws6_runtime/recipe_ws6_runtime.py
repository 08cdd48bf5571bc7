"""The WS6 runtime optimization family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the first run (0.38M) -> the v2 rerun (1.20M, trained from scratch with the
learning rate the first run's Calibration chose and a longer budget) -> Distillation of the 0.15M student from v2.
Every model is gated against the albedo-demodulated bilinear upscale of its half-resolution input.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...training.losses import FRAME_LOSS, DistillationWeights
from ...training.run import Lifecycle, save_legacy
from .configuration_ws6_runtime import UrukWS6RuntimeConfig
from .modeling_ws6_runtime import UrukWS6RuntimeRenderer

__all__ = ["FAMILY", "WS6_CONFIG_OVERRIDES", "WS6_CURRICULUM", "train_ws6"]

WS6_CONFIG_OVERRIDES = (("temporal_blend", True),)
"""Every WS6 model blends its own reprojected previous output into the frame where the reprojection holds (the
frame head's `temporal_blend`, as TAA and DLSS accumulate samples over frames). Measured at the quick preset on
the same data: v2 27.52 -> 28.58 dB, temporal error 1.55x -> 0.73x the ground truth's. A config field rather than
the config's default, so that WS6 folders saved without it keep loading as they were trained."""

WS6_CURRICULUM = [("distillation", FRAME_LOSS, DistillationWeights(teacher_frame=1.0))]
"""The WS6 student's single distillation stage (ground truth and the v2 model's frames)."""

_TIME_BUDGETS = {"quick": (70.0, 70.0)}
"""Production and curriculum seconds per preset (the whole family, data aside, in about 5 minutes at `quick`)."""

V2_BUDGET_FACTOR = 1.75
"""The v2 rerun's time budget as a multiple of the first run's Production budget."""


def train_ws6(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """The first run's Smoke, Calibration and Production, the v2 rerun, then the student's distillation from v2;
    writes the three models and the seed's files (`ws6_best.pt`, `ws6_v2_best.pt`, the student's best and final)."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, seed=seed)
    first, record, learning_rate = lifecycle.train_model("ws6_runtime", FRAME_LOSS)
    save_legacy(first, lifecycle.legacy_path("ws6_runtime"), "production", record["best"])

    v2, _ = lifecycle.rerun("ws6_runtime_v2", FRAME_LOSS, learning_rate, V2_BUDGET_FACTOR)
    lifecycle.train_student("ws6_student", v2, learning_rate, WS6_CURRICULUM, FRAME_LOSS)
    return lifecycle.write({"learning_rate": learning_rate, "v2_budget_factor": V2_BUDGET_FACTOR})


FAMILY = Family(
    name="ws6",
    title="WS6 runtime optimization",
    dataset_kind="gbuffer_clips",
    task="uruk_hf.training.tasks.frame_reconstruction:FrameReconstructionTask",
    train=train_ws6,
    onnx_config="uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer:UrukRendererOnnxConfig",
    models=(
        ModelEntry(
            key="ws6_runtime",
            model_class=UrukWS6RuntimeRenderer,
            config_class=UrukWS6RuntimeConfig,
            role="v1",
            run_folder="ws6/models/ws6_runtime",
            subfolder="workstreams/ws6_runtime_optimization",
            budget=380_000,
            description=(
                "WS6 runtime optimization, the fast path: the full-resolution frame from a half-resolution "
                "path-traced render (4 spp), the full-resolution G-buffer, motion and the model's own reprojected "
                "previous frame: learned 2x upscaling that refines the albedo-demodulated bilinear upscale."
            ),
            legacy_files=("workstreams/ws6_runtime_optimization/ws6_best.pt",),
            onnx_files=("onnx/uruk_ws6_runtime_best.onnx",),
            curve=("ws6/production",),
            config_overrides=WS6_CONFIG_OVERRIDES,
        ),
        ModelEntry(
            key="ws6_runtime_v2",
            model_class=UrukWS6RuntimeRenderer,
            config_class=UrukWS6RuntimeConfig,
            role="v2",
            run_folder="ws6/models/ws6_runtime_v2",
            subfolder="workstreams/ws6_runtime_optimization_v2",
            budget=1_200_000,
            description=(
                "WS6 runtime optimization v2: the same task and recipe rerun with a wider trunk, the learning rate "
                "the first run's Calibration chose and a longer time budget; the teacher of the WS6 student."
            ),
            legacy_files=("workstreams/ws6_runtime_optimization_v2/ws6_v2_best.pt",),
            onnx_files=("onnx/uruk_ws6_runtime_v2_best.onnx",),
            curve=("ws6/production_v2",),
            config_overrides=WS6_CONFIG_OVERRIDES,
            compared_with=("ws6_runtime",),
        ),
        ModelEntry(
            key="ws6_student",
            model_class=UrukWS6RuntimeRenderer,
            config_class=UrukWS6RuntimeConfig,
            role="student",
            run_folder="ws6/models/ws6_student",
            subfolder="distillation/ws6_student",
            budget=150_000,
            description=(
                "The WS6 student, distilled from WS6 v2 (frame loss to the ground truth and to the teacher's frame)."
            ),
            legacy_files=("distillation/ws6_student_best.pt", "distillation/ws6_student_final.pt"),
            curve=("ws6/distillation",),
            config_overrides=WS6_CONFIG_OVERRIDES,
            compared_with=("ws6_runtime_v2",),
        ),
    ),
    limitations={
        key: [
            "Trained on 64x64 frames of the library's procedural scenes at the quick preset; 2x upscaling only.",
            "The half-resolution input is a 4-spp path trace: noisier or cleaner inputs are outside its training.",
        ]
        for key in ("ws6_runtime", "ws6_runtime_v2", "ws6_student")
    },
)
