"""The WS3 world-authoring family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the teacher denoiser (diffusers' `DDPMScheduler` noise, clean-map
prediction, condition dropout, the knob-consistency term), gated on the held-out denoising loss; then
Distillation of the 3.36M student through `UrukDistillationTrainer`, the teacher's prediction as its teacher term,
starting from the teacher's weights pruned to the student's widths (`UrukWS3WorldAuthoring.initialize_from_teacher`).
Both under one of two recipes (`WS3_RECIPES`): `short` for the quick preset's minutes, `long` for longer runs.
"""

from dataclasses import dataclass
from pathlib import Path

from ...catalog import Family, ModelEntry, TrainOption
from ...training.run import (
    PRODUCTION_STEPS_OPTION,
    TIME_SCALE_OPTION,
    Lifecycle,
    production_step_cap,
    save_legacy,
    scaled_time_budgets,
)
from ...training.tasks.world_authoring import DenoiserDistillationWeights, WorldAuthoringLossWeights
from .configuration_ws3_world_authoring import UrukWS3WorldAuthoringConfig
from .modeling_ws3_world_authoring import UrukWS3WorldAuthoring

__all__ = ["FAMILY", "WS3_RECIPES", "WS3Recipe", "train_ws3"]


@dataclass(frozen=True)
class WS3Recipe:
    """What a WS3 recipe sets: the loss of the teacher and of the student, and the U-Net's padding.

    Attributes:
        loss (`WorldAuthoringLossWeights`): the task loss of both models.
        padding_mode (`str`): `UrukWS3WorldAuthoringConfig.padding_mode` of both models.
        calibration_learning_rates (`tuple[float, ...] | None`): Calibration's candidates (`None`: the preset's).
        ema_max_decay (`float | None`): the teacher's Production keeps a moving average of its weights with this
            largest decay (`StageSettings.ema_max_decay`) and samples from it; `None`: no average.
    """

    loss: WorldAuthoringLossWeights
    padding_mode: str
    calibration_learning_rates: tuple[float, ...] | None = None
    ema_max_decay: float | None = None

    def curriculum(self) -> list:
        """The student's single stage: its task loss and the teacher's prediction."""
        return [("distillation", self.loss, DenoiserDistillationWeights(teacher_prediction=1.0))]


WS3_RECIPES = {
    "short": WS3Recipe(WorldAuthoringLossWeights(denoising=1.0, knob_consistency=1.0), "zeros"),
    "long": WS3Recipe(
        WorldAuthoringLossWeights(denoising=1.0, knob_consistency=1.0, height_gradient=4.0),
        "circular",
        (1e-3, 2e-3),
        ema_max_decay=0.9999,
    ),
}
"""The recipes by `--recipe`. `short`: the denoising error and the knob-consistency term, zero padding; the best
within the quick preset's minutes. `long`: circular padding and the height-gradient term at 4, which after 3,000
steps of the quick-size teacher at 2e-3 gave knob errors of 0.0348-0.0406 over the first 64 test requests in three
seeds against 0.0442-0.0461 for `short` (README, WS3), 0.0423, 0.0437 and 0.0411 over all 200 in three more (0.51,
0.53 and 0.50 of retrieval's; WS3's bar is 0.5), and within the quick budget 0.071-0.073 against 0.061-0.063. At 4e-3,
which the quick preset's Calibration picks by a hair, it diverged in two seeds of four and reached only 0.0431 and
0.0520 in the other two, so it calibrates over 1e-3 and 2e-3. Since then `long` also samples from the moving average
of the teacher's weights (decay up to 0.9999, diffusers' warm-up): on the same two seeds' training (4 and 5, the
same steps) 0.0416 and 0.0417 over all 200 against 0.0423 and 0.0437 from the last weights, and their students
0.0392 and 0.0393 against 0.0394 and 0.0423; seed 6 level (0.0413 against 0.0411), seed 7 0.0402 (0.50, 0.50, 0.50
and 0.49 of retrieval's). With the sampler's steps chosen on validation too (`WorldAuthoringTask.tune_inference`),
three of the four teachers sample at 10 steps: 0.0397, 0.0405, 0.0413 (seed 6's, at 25) and 0.0388 (0.47-0.50); with
4,500 Production steps (`--production-steps 4500`) seeds 4 and 5 reach 0.0369 and 0.0390 (0.45 and 0.47), their
students 0.0368 and 0.0384."""

_DEFAULT_RECIPES = {"tiny": "short", "quick": "short", "full": "long"}
"""The recipe of each preset when `--recipe` is not given."""

_TIME_BUDGETS = {"quick": (120.0, 40.0)}
"""Production and distillation seconds at the quick preset: with the data and the choice of each model's sampler,
the quick pipeline's WS3 stays under the 5 minutes of its issue on 2 cores."""

_STAGE = {"batch_size": 32, "eval_every": 100, "warmup_steps": 30, "patience": 4}
"""Maps per step and evaluation interval."""


def train_ws3(
    data: Path,
    output: Path,
    preset: str,
    resume: bool,
    seed: int = 0,
    time_scale: str | None = None,
    recipe: str | None = None,
    production_steps: str | None = None,
) -> dict:
    """The teacher's Smoke, Calibration and Production (at most `production_steps` steps when given), then the
    student's distillation from the pruned teacher (budgets times `time_scale`), both under `WS3_RECIPES[recipe]`
    (default: the preset's); writes both models, the teacher's `ws3_best.pt` and the student's best and final `.pt`
    files.

    Raises:
        ValueError: `recipe` is not a key of `WS3_RECIPES`, or `production_steps` not a whole number of steps.
    """
    recipe = recipe or _DEFAULT_RECIPES[preset]
    if recipe not in WS3_RECIPES:
        raise ValueError(f"--recipe must be one of {sorted(WS3_RECIPES)}, got {recipe!r}.")
    step_cap = production_step_cap(production_steps)
    chosen = WS3_RECIPES[recipe]
    budgets = scaled_time_budgets(_TIME_BUDGETS, time_scale)
    lifecycle = Lifecycle(
        FAMILY, data, output, preset, resume, budgets, _STAGE, seed=seed,
        calibration_learning_rates=chosen.calibration_learning_rates,
        config_fields={"padding_mode": chosen.padding_mode},
        production_settings={"ema_max_decay": chosen.ema_max_decay, **step_cap},
    )  # fmt: skip
    teacher, record, learning_rate = lifecycle.train_model("ws3_world_authoring", chosen.loss)
    save_legacy(teacher, lifecycle.legacy_path("ws3_world_authoring"), "production", record["best"])
    lifecycle.train_student(
        "ws3_student", teacher, learning_rate, chosen.curriculum(), chosen.loss, prune_teacher=True
    )
    extra = {"time_scale": time_scale, "recipe": recipe, "production_steps": step_cap.get("max_steps")}
    return lifecycle.write({"learning_rate": learning_rate, **extra})


FAMILY = Family(
    name="ws3",
    title="WS3 world authoring",
    dataset_kind="world_maps",
    task="uruk_hf.training.tasks.world_authoring:WorldAuthoringTask",
    train=train_ws3,
    onnx_config="uruk_hf.models.ws3_world_authoring.onnx_ws3_world_authoring:UrukWS3WorldAuthoringOnnxConfig",
    options=(
        TIME_SCALE_OPTION,
        TrainOption(
            "--recipe",
            "short (zero padding, no height-gradient term: the best within the quick preset's minutes; the quick "
            "default) or long (circular padding, the height-gradient term and the moving average of the teacher's "
            "weights: the best from about 2,500 steps; the full default)",
        ),
        PRODUCTION_STEPS_OPTION,
    ),
    models=(
        ModelEntry(
            key="ws3_world_authoring",
            model_class=UrukWS3WorldAuthoring,
            config_class=UrukWS3WorldAuthoringConfig,
            role="teacher",
            run_folder="ws3/models/ws3_world_authoring",
            subfolder="workstreams/ws3_world_authoring",
            budget=9_030_000,
            description=(
                "WS3 world authoring: a 64x64 world map (height, surface material, props) sampled for a vector of "
                "16 knobs (water, relief, tilt, ridges, props, biome shares) by a knob-conditioned diffusion "
                "model (diffusers' UNet2DModel, DPM-Solver++ and classifier-free guidance), learned from the "
                "library's procedural terrain generator."
            ),
            legacy_files=("workstreams/ws3_world_authoring/ws3_best.pt",),
            curve=("ws3/production",),
            seed_claims=(
                ("WS3: procedural world generation from embeddings", None, "knob adherence on held-out knobs"),
            ),
        ),
        ModelEntry(
            key="ws3_student",
            model_class=UrukWS3WorldAuthoring,
            config_class=UrukWS3WorldAuthoringConfig,
            role="student",
            run_folder="ws3/models/ws3_student",
            subfolder="distillation/ws3_student",
            budget=3_360_000,
            description=(
                "WS3 world-authoring student: the same knob-conditioned denoiser at a third of the size, pruned from "
                "the teacher and distilled from its predictions."
            ),
            legacy_files=("distillation/ws3_student_best.pt", "distillation/ws3_student_final.pt"),
            curve=("ws3/distillation",),
            compared_with=("ws3_world_authoring",),
        ),
    ),
    limitations={
        key: [
            "It learns the library's procedural terrain generator: the generator makes a map in milliseconds and "
            "is the reference for what a map of given knobs looks like; the model adds a learned distribution "
            "that meets every knob at once from one interface (the generator hits some knobs only approximately).",
            "Knob values outside the ranges the training maps were drawn from (`sample_knobs`) were never seen in "
            "training.",
        ]
        for key in ("ws3_world_authoring", "ws3_student")
    },
)
