"""The V2-Optimized family: its registry entry and its lifecycle (DESIGN §4).

Warm start from the V2-Ultra student's stage-1 checkpoint ("initializes from V1 weights"; any mismatch is
reported), Smoke -> Calibration -> the seed's 3-stage curriculum on the Accelerate loop: rendering with MS-SSIM,
then materials, then (with `gan=True`, `uruk train v2_optimized --gan`; off by default) an adversarial fine-tune
against a patch discriminator, with a gate after each stage.
"""

from dataclasses import replace
from functools import partial
from pathlib import Path

from ...catalog import Family, ModelEntry, TrainOption
from ...training.losses import FRAME_AND_MATERIAL_LOSS, FRAME_LOSS
from ...training.run import Lifecycle, save_legacy
from .configuration_v2_optimized import UrukV2OptimizedConfig
from .modeling_v2_optimized import UrukV2Optimized

__all__ = ["FAMILY", "V2_OPTIMIZED_CURRICULUM", "V2_OPTIMIZED_LATER_STAGE_LOSS", "train_v2_optimized"]

V2_OPTIMIZED_CURRICULUM = [("rendering", FRAME_LOSS, None), ("material", FRAME_AND_MATERIAL_LOSS, None)]
"""V2-Optimized's stages on the Accelerate loop (no teacher): rendering with MS-SSIM, then materials."""

V2_OPTIMIZED_LATER_STAGE_LOSS = 1.0
"""V2-Optimized's later stages (material, adversarial) may not cost the frame more than 1 dB of what the stage
before reached (`Lifecycle.previous_stage_gate`)."""

ADVERSARIAL_WEIGHT = 0.01
"""Weight of the hinge generator term against L1 1.0 on tone-mapped frames: pix2pix's ratio (L1 100, GAN 1)."""

V2_OPTIMIZED_ADVERSARIAL_STAGE = (
    "adversarial",
    replace(FRAME_AND_MATERIAL_LOSS, adversarial=ADVERSARIAL_WEIGHT),
    None,
)
"""The optional third stage: the material stage's terms plus the adversarial term of a patch discriminator on
tone-mapped frames (`FrameReconstructionTask` trains the discriminator)."""

_TIME_BUDGETS = {"quick": (None, 160.0)}
"""Production and curriculum seconds per preset (V2-Optimized has no Production: its curriculum is its training)."""


def train_v2_optimized(
    data: Path,
    output: Path,
    preset: str,
    resume: bool,
    seed: int = 0,
    init_from: str | Path | None = None,
    gan: bool = False,
):
    """The warm-started curriculum (with the adversarial stage when `gan`); writes the model and the seed's
    `v2opt_global_best.pt`. The adversarial stage gets a budget of its own (one stage's share), so the first two
    stages train as they do without it."""
    if init_from is None:
        raise ValueError(
            "V2-Optimized initializes from earlier weights: pass init_from (e.g. a V2-Ultra run's "
            "distillation/stage1_best, a .safetensors or a legacy .pt file)."
        )
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, seed=seed)

    warm_model = partial(lifecycle.warm_started_model, "v2_optimized", init_from)
    model, learning_rate = lifecycle.calibrated_model("v2_optimized", FRAME_LOSS, warm_model)
    curriculum = V2_OPTIMIZED_CURRICULUM + ([V2_OPTIMIZED_ADVERSARIAL_STAGE] if gan else [])
    time_s = lifecycle.budget.curriculum_time_s
    if time_s is not None:
        time_s *= len(curriculum) / len(V2_OPTIMIZED_CURRICULUM)
    gates = [lifecycle.gate()] + [lifecycle.previous_stage_gate(V2_OPTIMIZED_LATER_STAGE_LOSS)] * (len(curriculum) - 1)
    records = lifecycle.accelerate_curriculum(model, curriculum, learning_rate, time_s, gates)
    lifecycle.save_model("v2_optimized", model, records[-1])
    save_legacy(model, lifecycle.legacy_path("v2_optimized"), records[-1]["stage"], records[-1]["best"])
    return lifecycle.write({"learning_rate": learning_rate, "init_from": str(init_from), "gan": gan})


def pipeline_options(pipeline_folder: Path) -> dict:
    """In the pipeline, V2-Optimized warm-starts from the V2-Ultra student's stage 1 ("V1")."""
    return {"init_from": Path(pipeline_folder) / "v2_ultra" / "distillation" / "stage1_best"}


FAMILY = Family(
    name="v2_optimized",
    title="V2-Optimized",
    dataset_kind="gbuffer_clips",
    task="uruk_hf.training.tasks.frame_reconstruction:FrameReconstructionTask",
    train=train_v2_optimized,
    options=(
        TrainOption(
            "--init-from", "warm start: a Hub-format folder, .safetensors or .pt file (e.g. V2-Ultra's stage 1)"
        ),
        TrainOption("--gan", "add the adversarial stage (a patch discriminator; off by default)", is_switch=True),
    ),
    requires=("v2_ultra",),
    pipeline_options=pipeline_options,
    onnx_config="uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer:UrukRendererOnnxConfig",
    models=(
        ModelEntry(
            key="v2_optimized",
            model_class=UrukV2Optimized,
            config_class=UrukV2OptimizedConfig,
            role="student",
            run_folder="v2_optimized/models/v2_optimized",
            subfolder="v2_optimized",
            budget=6_920_000,
            description=(
                "V2-Optimized: the V2-Ultra student's architecture, warm-started from its stage-1 weights and "
                "trained through its own curriculum (rendering, then material) with MS-SSIM and quality gates "
                "between stages."
            ),
            legacy_files=("v2_optimized/v2opt_global_best.pt",),
            onnx_files=("onnx/uruk_v2_optimized_best.onnx",),
            curve=("v2_optimized/rendering", "v2_optimized/material"),
        ),
    ),
)
