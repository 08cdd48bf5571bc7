"""The WS5 cinematic renderer family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production (one reconstruction stage, L1 + MS-SSIM on the 19-channel layout) ->
Distillation to the 3.55M student.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...training.losses import FRAME_LOSS, DistillationWeights
from ...training.run import Lifecycle, save_legacy
from .configuration_ws5_cinematic import UrukWS5CinematicConfig
from .modeling_ws5_cinematic import UrukWS5CinematicRenderer

__all__ = ["FAMILY", "WS5_CURRICULUM", "train_ws5"]

WS5_CURRICULUM = [("distillation", FRAME_LOSS, DistillationWeights(teacher_frame=1.0))]
"""The WS5 student's single distillation stage."""

_TIME_BUDGETS = {"quick": (150.0, 120.0)}
"""Production and curriculum seconds per preset: WS5's single-head stages converge sooner than V2-Ultra's."""


def train_ws5(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """The renderer's Production, then its student's distillation; writes both models and the seed's files
    (`ws5_frontier_best.pt`, the student's best and final)."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, seed=seed)
    teacher, record, learning_rate = lifecycle.train_model("ws5_cinematic_renderer", FRAME_LOSS)
    save_legacy(teacher, lifecycle.legacy_path("ws5_cinematic_renderer"), "production", record["best"])
    lifecycle.train_student("ws5_student", teacher, learning_rate, WS5_CURRICULUM, FRAME_LOSS)
    return lifecycle.write({"learning_rate": learning_rate})


FAMILY = Family(
    name="ws5",
    title="WS5 cinematic renderer",
    dataset_kind="gbuffer_clips",
    task="uruk_hf.training.tasks.frame_reconstruction:FrameReconstructionTask",
    train=train_ws5,
    onnx_config="uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer:UrukRendererOnnxConfig",
    models=(
        ModelEntry(
            key="ws5_cinematic_renderer",
            model_class=UrukWS5CinematicRenderer,
            config_class=UrukWS5CinematicConfig,
            role="teacher",
            run_folder="ws5/models/ws5_cinematic_renderer",
            subfolder="workstreams/ws5_cinematic_renderer",
            budget=10_150_000,
            description=(
                "The WS5 cinematic renderer: the final frame from a 19-channel layout (the G-buffer, a cheap "
                "direct-light render, world position and ambient occlusion)."
            ),
            legacy_files=("workstreams/ws5_cinematic_renderer/ws5_frontier_best.pt",),
            onnx_files=("onnx/uruk_ws5_cinematic_best.onnx",),
            curve=("ws5/production",),
        ),
        ModelEntry(
            key="ws5_student",
            model_class=UrukWS5CinematicRenderer,
            config_class=UrukWS5CinematicConfig,
            role="student",
            run_folder="ws5/models/ws5_student",
            subfolder="distillation/ws5_student",
            budget=3_550_000,
            description=(
                "The WS5 student, distilled from the WS5 cinematic renderer (frame loss to the ground truth and to "
                "the teacher's frame)."
            ),
            legacy_files=("distillation/ws5_student_best.pt", "distillation/ws5_student_final.pt"),
            curve=("ws5/distillation",),
            seed_claims=(("WS5 student best val_loss 0.216", "psnr", "test split"),),
        ),
    ),
)
