"""The WS4 world remapper family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the first run -> the v2 rerun (the same size, trained from scratch with the
learning rate the first run's Calibration chose and a longer budget) -> Distillation of the 7.92M student from
v2. Every model is gated against the least-squares colour matrix per preset pair.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...training.losses import FRAME_LOSS, DistillationWeights
from ...training.run import Lifecycle, save_legacy
from .configuration_ws4_remapper import UrukWS4RemapperConfig
from .modeling_ws4_remapper import UrukWS4Remapper

__all__ = ["FAMILY", "WS4_CURRICULUM", "train_ws4"]

WS4_CURRICULUM = [("distillation", FRAME_LOSS, DistillationWeights(teacher_frame=1.0))]
"""The WS4 student's single distillation stage (ground truth and the v2 model's frames)."""

_TIME_BUDGETS = {"quick": (45.0, 55.0)}
"""Production and curriculum seconds per preset (the family with its data in about 6 minutes at `quick`)."""

V2_BUDGET_FACTOR = 2.5
"""The v2 rerun's time budget as a multiple of the first run's Production budget: 112 s at `quick`. With 84 s (55 s
x 1.5), v2's best validation step was its last, or within 40 steps of it, in three runs out of three: it was still
learning when its time ran out. The first run's Production went from 55 s to 45 s to keep the family's time."""

_STAGE_OVERRIDES = {"quick": {"batch_size": 8}}
"""Pairs per batch: a pair is one frame, where a renderer's clip item holds four."""


def train_ws4(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """The first run's Smoke, Calibration and Production, the v2 rerun, then the student's distillation from v2;
    writes the three models and the seed's files (`ws4_best.pt`, `ws4_v2_best.pt`, the student's best and
    final)."""
    lifecycle = Lifecycle(
        FAMILY, data, output, preset, resume, _TIME_BUDGETS, stage_overrides=_STAGE_OVERRIDES.get(preset), seed=seed
    )
    first, record, learning_rate = lifecycle.train_model("ws4_remapper", FRAME_LOSS)
    save_legacy(first, lifecycle.legacy_path("ws4_remapper"), "production", record["best"])

    v2, _ = lifecycle.rerun("ws4_remapper_v2", FRAME_LOSS, learning_rate, V2_BUDGET_FACTOR)
    lifecycle.train_student("ws4_student", v2, learning_rate, WS4_CURRICULUM, FRAME_LOSS)
    return lifecycle.write({"learning_rate": learning_rate, "v2_budget_factor": V2_BUDGET_FACTOR})


_LIMITATIONS = [
    "Trained on 64x64 views of the library's procedural outdoor scenes at the quick preset, four fixed presets.",
    "It takes the target preset's key-light visibility (an engine's shadow map for that time of day), the "
    "unshadowed irradiance of the target's lights and its key light's GGX specular reflection (an engine's deferred "
    "lighting pass) and what the camera sees directly of both presets' emitters and sky (an engine's emissive and "
    "sky passes) as inputs; without them, moved shadows, the sun's glare, the lamps' light pools and the lamps "
    "themselves are outside what it can predict.",
]

FAMILY = Family(
    name="ws4",
    title="WS4 world remapper",
    dataset_kind="relighting_pairs",
    task="uruk_hf.training.tasks.relighting:RelightingTask",
    train=train_ws4,
    onnx_config="uruk_hf.models.ws4_remapper.onnx_ws4_remapper:UrukWS4RemapperOnnxConfig",
    models=(
        ModelEntry(
            key="ws4_remapper",
            model_class=UrukWS4Remapper,
            config_class=UrukWS4RemapperConfig,
            role="v1",
            run_folder="ws4/models/ws4_remapper",
            subfolder="workstreams/ws4_world_remapper",
            budget=22_660_000,
            description=(
                "WS4 world remapper, time of day: a rendered frame and its G-buffer under one lighting preset (noon, "
                "golden hour, overcast, night) to the same view under another, conditioned (FiLM) on the two presets "
                "and the target's sun, with the target's key-light visibility, its lights' unshadowed irradiance, its "
                "key light's specular reflection and both presets' directly seen emitters and sky as inputs."
            ),
            legacy_files=("workstreams/ws4_world_remapper/ws4_best.pt",),
            onnx_files=("onnx/uruk_ws4_world_remapper_best.onnx",),
            curve=("ws4/production",),
        ),
        ModelEntry(
            key="ws4_remapper_v2",
            model_class=UrukWS4Remapper,
            config_class=UrukWS4RemapperConfig,
            role="v2",
            run_folder="ws4/models/ws4_remapper_v2",
            subfolder="workstreams/ws4_world_remapper_v2",
            budget=22_660_000,
            description=(
                "WS4 world remapper v2: the same task, size and recipe rerun with the learning rate the first run's "
                "Calibration chose and a longer time budget; the teacher of the WS4 student."
            ),
            legacy_files=("workstreams/ws4_world_remapper_v2/ws4_v2_best.pt",),
            onnx_files=("onnx/uruk_ws4_world_remapper_v2_best.onnx",),
            curve=("ws4/production_v2",),
            compared_with=("ws4_remapper",),
        ),
        ModelEntry(
            key="ws4_student",
            model_class=UrukWS4Remapper,
            config_class=UrukWS4RemapperConfig,
            role="student",
            run_folder="ws4/models/ws4_student",
            subfolder="distillation/ws4_student",
            budget=7_920_000,
            description="The WS4 student, distilled from WS4 v2 (frame loss to the ground truth and the teacher).",
            legacy_files=("distillation/ws4_student_best.pt", "distillation/ws4_student_final.pt"),
            curve=("ws4/distillation",),
            compared_with=("ws4_remapper_v2",),
        ),
    ),
    limitations={key: _LIMITATIONS for key in ("ws4_remapper", "ws4_remapper_v2", "ws4_student")},
)
