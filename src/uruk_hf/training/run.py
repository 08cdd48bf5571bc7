"""`uruk train <family>`: the lifecycle of one family, Smoke -> Calibration -> Production (with its quality gate),
each stage deciding the next from measurements and writing a record.

Distillation and the V2 curricula build on the same pieces (issue #4, in progress); WS5 runs end to end today.
"""

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from ..file_utils import atomic_path
from ..models.ws5_cinematic import UrukWS5CinematicConfig, UrukWS5CinematicRenderer
from ..processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipDataset
from .lifecycle import QualityGate, SmokeSettings, buffer_baseline, run_calibration, run_smoke
from .losses import LossWeights, renderer_loss
from .stage import StageSettings, save_final_model, train_stage

__all__ = ["LIFECYCLE_PRESETS", "LifecyclePreset", "train_family"]


@dataclass(frozen=True)
class LifecyclePreset:
    """Budgets of the lifecycle stages at one preset.

    Attributes:
        smoke (`SmokeSettings`): the Smoke checks.
        calibration_learning_rates (`tuple[float, ...]`): candidates of the Calibration stage.
        calibration_steps (`int`): steps per candidate.
        production (`StageSettings`): the Production stage (its learning rate comes from Calibration).
        gate (`QualityGate`): what Production must beat on the validation frames.
    """

    smoke: SmokeSettings
    calibration_learning_rates: tuple[float, ...]
    calibration_steps: int
    production: StageSettings
    gate: QualityGate = field(default_factory=QualityGate)


LIFECYCLE_PRESETS = {
    "tiny": LifecyclePreset(
        SmokeSettings(steps=12, min_loss_drop=0.02),
        (1e-3, 5e-3),
        2,
        StageSettings("production", max_steps=4, eval_every=2, batch_size=2, warmup_steps=1),
        QualityGate(margin=-100.0),
    ),
    "quick": LifecyclePreset(
        SmokeSettings(),
        (1e-3, 2e-3, 4e-3),
        100,
        StageSettings(
            "production",
            max_steps=3000,
            eval_every=100,
            patience=3,
            time_budget_s=300.0,
            weights=LossWeights(ms_ssim=0.2),
        ),
        QualityGate(margin=3.0),
    ),
    "full": LifecyclePreset(
        SmokeSettings(),
        (5e-4, 1e-3, 2e-3),
        500,
        StageSettings("production", max_steps=100_000, eval_every=1000, patience=5, weights=LossWeights(ms_ssim=0.2)),
        QualityGate(margin=5.0),
    ),
}
"""Stage budgets per preset; `quick` keeps a WS5 lifecycle within about 8 minutes on 2 cores."""


def _git_revision() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def train_family(
    family: str,
    data: str | Path,
    output: str | Path,
    preset: str = "quick",
    role: str | None = None,
    resume: bool = False,
) -> dict:
    """Runs the lifecycle of `family` (today: `ws5`) on the dataset `data` into `output`; returns the lifecycle
    record (also `output/lifecycle.json`).

    Raises:
        ValueError: unknown family or preset.
        SmokeFailure, GateFailure, TrainingDivergedError: a stage failed; the message names the check and the
            measured values.
    """
    from accelerate import Accelerator

    families = {"ws5": (UrukWS5CinematicConfig, UrukWS5CinematicRenderer)}
    if family not in families:
        raise ValueError(f"Unknown family {family!r} for `uruk train`; available now: {sorted(families)}.")
    if preset not in LIFECYCLE_PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(LIFECYCLE_PRESETS)}.")
    budget = LIFECYCLE_PRESETS[preset]
    config_class, model_class = families[family]
    config = config_class.from_preset(preset, role=role)
    processor = UrukGBufferProcessor.from_model_config(config)
    output = Path(output)
    train = UrukClipDataset(data, "train", config.input_buffers)
    validation = UrukClipDataset(data, "validation", config.input_buffers)
    started = time.perf_counter()

    def make_model():
        torch.manual_seed(budget.production.seed)
        return model_class(config)

    stages = {}
    weights = budget.production.weights
    stages["smoke"] = run_smoke(
        make_model(),
        processor,
        train,
        lambda outputs, batch: renderer_loss(outputs, batch, weights),
        budget.smoke,
        output / "smoke",
    )
    calibration_settings = replace(
        budget.production,
        name="calibration",
        max_steps=budget.calibration_steps,
        eval_every=budget.calibration_steps,
        time_budget_s=None,
    )
    stages["calibration"] = run_calibration(
        make_model,
        processor,
        train,
        validation,
        calibration_settings,
        list(budget.calibration_learning_rates),
        output / "calibration",
    )
    production_settings = replace(budget.production, learning_rate=stages["calibration"]["chosen_learning_rate"])
    model = make_model()
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(output))
    accelerator.init_trackers(family)
    production = train_stage(
        accelerator, model, processor, train, validation, production_settings, output / "production", resume=resume
    )
    baselines = {budget.gate.baseline: buffer_baseline(validation, budget.gate.baseline)}
    production["gate"] = budget.gate.check(production["best"], baselines)
    stages["production"] = production
    save_final_model(accelerator, model, processor, production, output / "model")
    accelerator.end_training()
    record = {
        "family": family,
        "preset": preset,
        "role": config.role,
        "data": str(data),
        "stages": {
            name: {key: value for key, value in stage.items() if key != "history"} for name, stage in stages.items()
        },
        "budget": asdict(budget),
        "seconds": time.perf_counter() - started,
        "git_revision": _git_revision(),
        "command": " ".join(sys.argv),
    }
    with atomic_path(output / "lifecycle.json") as temporary:
        temporary.write_text(json.dumps(record, indent=2, default=str))
    return record
