"""`uruk train <family>`: a family's lifecycle (DESIGN §4), each stage deciding the next from measurements and
writing a record.

- `v2_ultra`: Smoke -> Calibration -> Production of the teacher (frame + materials, gate against `direct`) ->
  Distillation of the student through the 2-stage curriculum (stage 1 foundation: frame reconstruction + teacher
  matching; stage 2 fine-tune on the ground truth: adds the material head, started from the teacher's, the
  teacher's material distribution and MS-SSIM).
- `v2_optimized`: warm start from the V2-Ultra student's stage-1 checkpoint (`init_from`), Smoke -> Calibration ->
  the 3-stage curriculum on the Accelerate loop (rendering, material, and the optional adversarial stage), with a
  gate after each stage.
- `ws5`: Smoke -> Calibration -> Production (one reconstruction stage, L1 + MS-SSIM) -> Distillation to the
  3.55M student.

A run folder holds one folder per stage (`smoke/`, `calibration/`, `production/`, `distillation/`, ...), each
with its `record.json`; the final models in Hub format under `models/<published key>/`; the seed's legacy `.pt`
files under `legacy/` at the seed's relative paths; and `lifecycle.json` (stages, budgets, git revision,
command). With `resume=True` finished stages are read back from their records and the interrupted stage
continues from its last complete checkpoint.
"""

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..file_utils import atomic_path
from ..models.v2_optimized import UrukV2Optimized, UrukV2OptimizedConfig
from ..models.v2_ultra import UrukV2Ultra, UrukV2UltraConfig
from ..models.ws5_cinematic import UrukWS5CinematicConfig, UrukWS5CinematicRenderer
from ..processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipDataset
from .distillation import DistillationWeights, run_distillation
from .lifecycle import (
    QualityGate,
    SmokeSettings,
    buffer_baseline,
    finished_record,
    run_calibration,
    run_smoke,
    train_curriculum,
)
from .losses import LossWeights, renderer_loss
from .recipes import (
    FRAME_AND_MATERIAL_LOSS,
    FRAME_LOSS,
    V2_OPTIMIZED_CURRICULUM,
    V2_OPTIMIZED_MATERIAL_GATE,
    V2_ULTRA_CURRICULUM,
    WS5_CURRICULUM,
    curriculum_stages,
)
from .stage import OPTIMIZER_FILE, StageSettings, save_trained_model
from .warm_start import load_initial_weights

__all__ = [
    "FAMILIES",
    "LEGACY_FILES",
    "LIFECYCLE_PRESETS",
    "LifecyclePreset",
    "save_curriculum_legacy",
    "train_family",
    "train_student_from_scratch",
]

FAMILIES = ("v2_ultra", "v2_optimized", "ws5")


@dataclass(frozen=True)
class LifecyclePreset:
    """Budgets of the lifecycle stages at one preset.

    Attributes:
        smoke (`SmokeSettings`): the Smoke checks.
        calibration_learning_rates (`tuple[float, ...]`): candidates of the Calibration stage.
        calibration_steps (`int`): steps per candidate; the winner's weights continue into the next stage.
        stage (`StageSettings`): template of every training stage (batch size, evaluation interval, warm-up,
            plateau rules, annealing, step cap); each stage sets its own name, loss terms and learning rate.
        production_time_s (`dict[str, float] | None`): wall-clock budget of the Production stage of each family that
            has one (None: no time limit).
        curriculum_time_s (`dict[str, float] | None`): wall-clock budget of each family's whole curriculum
            (Distillation, the V2-Optimized stages), shared evenly by its stages (None: no time limit).
        gate_margin (`float`): dB of validation PSNR above the cheap `direct` render that every gate requires.
    """

    smoke: SmokeSettings
    calibration_learning_rates: tuple[float, ...]
    calibration_steps: int
    stage: StageSettings
    production_time_s: dict[str, float] | None
    curriculum_time_s: dict[str, float] | None
    gate_margin: float

    def production_seconds(self, family: str) -> float | None:
        """`family`'s Production budget."""
        return None if self.production_time_s is None else self.production_time_s[family]

    def curriculum_seconds(self, family: str) -> float | None:
        """`family`'s curriculum budget."""
        return None if self.curriculum_time_s is None else self.curriculum_time_s[family]


LIFECYCLE_PRESETS = {
    "tiny": LifecyclePreset(
        SmokeSettings(steps=12, min_loss_drop=0.02),
        (1e-3, 5e-3),
        2,
        StageSettings("template", max_steps=4, eval_every=2, batch_size=2, warmup_steps=1),
        None,
        None,
        gate_margin=-100.0,
    ),
    "quick": LifecyclePreset(
        SmokeSettings(),
        (2e-3, 4e-3),
        40,
        StageSettings(
            "template",
            max_steps=3000,
            eval_every=40,
            patience=3,
            batch_size=4,
            warmup_steps=20,
        ),
        # V2-Ultra's student gets the longest curriculum: it trains two heads and has the hardest targets; WS5's
        # single-head stages converge sooner.
        production_time_s={"v2_ultra": 210.0, "ws5": 150.0},
        curriculum_time_s={"v2_ultra": 240.0, "v2_optimized": 160.0, "ws5": 120.0},
        gate_margin=2.0,
    ),
    "full": LifecyclePreset(
        SmokeSettings(),
        (5e-4, 1e-3, 2e-3),
        500,
        StageSettings(
            "template",
            max_steps=100_000,
            eval_every=1000,
            patience=5,
            batch_size=8,
            warmup_steps=500,
        ),
        production_time_s=None,
        curriculum_time_s=None,
        gate_margin=5.0,
    ),
}
"""Stage budgets per preset; at `quick` the whole `uruk pipeline` (data and every family) fits 30 minutes on
2 CPU cores."""


@dataclass(frozen=True)
class _Family:
    config_class: type
    model_class: type
    teacher_loss: LossWeights
    teacher_key: str | None


_NO_TEACHER = DistillationWeights(teacher_frame=0.0)

_RECIPES = {
    "v2_ultra": _Family(UrukV2UltraConfig, UrukV2Ultra, FRAME_AND_MATERIAL_LOSS, "v2_ultra_teacher"),
    "v2_optimized": _Family(UrukV2OptimizedConfig, UrukV2Optimized, FRAME_AND_MATERIAL_LOSS, None),
    "ws5": _Family(UrukWS5CinematicConfig, UrukWS5CinematicRenderer, FRAME_LOSS, "ws5_cinematic_renderer"),
}

LEGACY_FILES = {
    "v2_ultra": {
        "stage1": "v2_ultra/v2_ultra_best_stage1.pt",
        "stage2": "v2_ultra/v2_ultra_best_stage2.pt",
        "global_best": "v2_ultra/v2_ultra_global_best.pt",
    },
    "v2_optimized": {"global_best": "v2_optimized/v2opt_global_best.pt"},
    "ws5": {
        "teacher": "workstreams/ws5_cinematic_renderer/ws5_frontier_best.pt",
        "global_best": "distillation/ws5_student_best.pt",
        "final": "distillation/ws5_student_final.pt",
    },
}
"""The seed's legacy files of each family, relative to the repo root (DESIGN §5), keyed by the stage they hold."""


def _git_revision() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def _without_history(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "history"}


def _save_legacy(model, path: Path, stage: str, metrics: dict, optimizer_file: Path | None = None) -> None:
    """A seed-layout `.pt` file; stage checkpoints also carry the optimizer state saved with their best weights."""
    optimizer_state = None
    if optimizer_file is not None and optimizer_file.is_file():
        optimizer_state = torch.load(optimizer_file, map_location="cpu", weights_only=True)
    model.save_legacy_checkpoint(
        path,
        stage=stage,
        epoch=metrics.get("step"),
        metrics={key: value for key, value in metrics.items() if isinstance(value, int | float)},
        optimizer_state_dict=optimizer_state,
    )


def save_curriculum_legacy(student, record: dict, legacy_root: str | Path, family: str) -> None:
    """Writes the seed's legacy `.pt` files of a distillation record under `legacy_root`: each curriculum stage's
    best weights where the seed names a file for it, and `student` (holding the global best) as `global_best`."""
    names = LEGACY_FILES[family]
    for stage in record["stages"]:
        if stage["stage"] in names:
            folder = Path(stage["best_folder"])
            stage_model = type(student).from_pretrained(folder)
            path = Path(legacy_root) / names[stage["stage"]]
            _save_legacy(stage_model, path, stage["stage"], stage["best"], folder / OPTIMIZER_FILE)
    _save_legacy(student, Path(legacy_root) / names["global_best"], record["global_best_stage"], record["global_best"])


class _Lifecycle:
    """The shared stages of every family's lifecycle, bound to one dataset, run folder and preset."""

    def __init__(self, family: str, data: Path, output: Path, preset: str, resume: bool):
        if preset not in LIFECYCLE_PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(LIFECYCLE_PRESETS)}.")
        self.family, self.recipe = family, _RECIPES[family]
        self.data, self.output, self.preset, self.resume = data, output, preset, resume
        self.budget = LIFECYCLE_PRESETS[preset]
        self.stages: dict[str, dict] = {}
        self.started = time.perf_counter()
        config = self.recipe.config_class.from_preset(preset)
        self.processor = UrukGBufferProcessor.from_model_config(config)
        self.train = UrukClipDataset(data, "train", config.input_buffers)
        self.validation = UrukClipDataset(data, "validation", config.input_buffers)
        self.baselines = {"direct": buffer_baseline(self.validation, "direct")}

    def gate(self) -> QualityGate:
        return QualityGate(metric="psnr", baseline="direct", margin=self.budget.gate_margin)

    def template(self, learning_rate: float) -> StageSettings:
        """The preset's stage settings at `learning_rate` (`curriculum_stages` names each stage and its terms)."""
        return replace(self.budget.stage, learning_rate=learning_rate)

    def new_model(self, role: str | None = None):
        torch.manual_seed(self.budget.stage.seed)
        return self.recipe.model_class(self.recipe.config_class.from_preset(self.preset, role=role))

    def smoke(self, model, weights: LossWeights, name: str = "smoke") -> None:
        folder = self.output / name
        self.stages[name] = finished_record(folder, self.resume) or run_smoke(
            model,
            self.processor,
            self.train,
            lambda outputs, batch: renderer_loss(outputs, batch, weights),
            self.budget.smoke,
            folder,
        )

    def calibrate(self, make_model, weights: LossWeights) -> tuple[float, Path]:
        """Calibration over the preset's learning rates; returns the chosen rate and the winner's best weights."""
        folder = self.output / "calibration"
        (stage,) = curriculum_stages([("calibration", weights, _NO_TEACHER)], self.template(0.0))
        settings = replace(
            stage.settings, max_steps=self.budget.calibration_steps, eval_every=self.budget.calibration_steps
        )
        record = finished_record(folder, self.resume) or run_calibration(
            make_model,
            self.processor,
            self.train,
            self.validation,
            settings,
            list(self.budget.calibration_learning_rates),
            folder,
        )
        self.stages["calibration"] = record
        chosen = record["chosen_learning_rate"]
        return chosen, folder / f"calibration_lr{chosen:g}" / "best"

    def production(self, model, weights: LossWeights, learning_rate: float) -> dict:
        """Production on the Accelerate loop (its best weights loaded into `model`), then its gate."""
        stage = curriculum_stages(
            [("production", weights, _NO_TEACHER)],
            self.template(learning_rate),
            self.budget.production_seconds(self.family),
            [self.gate()],
        )
        (record,) = train_curriculum(
            self.make_accelerator,
            model,
            self.processor,
            self.train,
            self.validation,
            stage,
            self.output,
            self.baselines,
            self.resume,
        )
        self.stages["production"] = record
        return record

    def make_accelerator(self, name: str):
        from accelerate import Accelerator

        accelerator = Accelerator(
            cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(self.output)
        )
        accelerator.init_trackers(f"{self.family}_{name}")
        return accelerator

    def distill(
        self,
        teacher,
        learning_rate: float,
        curriculum: list,
        folder_name: str = "distillation",
        time_s: float | None = None,
    ) -> tuple[object, dict]:
        """The student's curriculum through `UrukDistillationTrainer` (from scratch when `teacher` is None), a
        direct gate after every stage."""
        folder = self.output / folder_name
        stages = curriculum_stages(
            curriculum,
            self.template(learning_rate),
            self.budget.curriculum_seconds(self.family) if time_s is None else time_s,
            [self.gate()] * len(curriculum),
        )
        student = self.new_model(role="student")
        record = finished_record(folder, self.resume)
        if record is not None:
            best = next(stage for stage in record["stages"] if stage["stage"] == record["global_best_stage"])
            student.load_state_dict(type(student).from_pretrained(best["best_folder"]).state_dict())
        else:
            record = run_distillation(
                student,
                teacher,
                self.processor,
                self.train,
                self.validation,
                stages,
                folder,
                baselines=self.baselines,
                resume=self.resume,
            )
        self.stages[folder_name] = record
        return student, record

    def write(self, extra: dict | None = None) -> dict:
        record = {
            "family": self.family,
            "preset": self.preset,
            "data": str(self.data),
            "stages": {
                name: _without_history(stage) if "history" in stage else stage for name, stage in self.stages.items()
            },
            "budget": asdict(self.budget),
            "validation_baselines": self.baselines,
            "git_revision": _git_revision(),
            "command": " ".join(sys.argv),
            **(extra or {}),
            "seconds": time.perf_counter() - self.started,
        }
        with atomic_path(self.output / "lifecycle.json") as temporary:
            temporary.write_text(json.dumps(record, indent=2, default=str))
        return record


def _teacher_production(lifecycle: _Lifecycle) -> tuple[object, float]:
    """Smoke -> Calibration -> Production (+ gate) of the family's teacher; returns it and its learning rate."""
    weights = lifecycle.recipe.teacher_loss
    lifecycle.smoke(lifecycle.new_model(role="teacher"), weights)
    learning_rate, winner = lifecycle.calibrate(lambda: lifecycle.new_model(role="teacher"), weights)
    teacher = lifecycle.new_model(role="teacher")
    teacher.load_state_dict(type(teacher).from_pretrained(winner).state_dict())
    record = lifecycle.production(teacher, weights, learning_rate)
    save_trained_model(
        teacher, lifecycle.processor, record, lifecycle.output / "models" / lifecycle.recipe.teacher_key
    )
    return teacher, learning_rate


def _train_v2_ultra(lifecycle: _Lifecycle, **_) -> dict:
    teacher, learning_rate = _teacher_production(lifecycle)
    lifecycle.smoke(lifecycle.new_model(role="student"), V2_ULTRA_CURRICULUM[0][1], name="smoke_student")
    student, record = lifecycle.distill(teacher, learning_rate, V2_ULTRA_CURRICULUM)
    save_trained_model(student, lifecycle.processor, record, lifecycle.output / "models" / "v2_ultra")
    save_curriculum_legacy(student, record, lifecycle.output / "legacy", "v2_ultra")
    return lifecycle.write({"learning_rate": learning_rate})


def _train_v2_optimized(lifecycle: _Lifecycle, init_from: str | Path | None = None) -> dict:
    if init_from is None:
        raise ValueError(
            "V2-Optimized initializes from earlier weights: pass init_from (e.g. a V2-Ultra run's "
            "distillation/stage1_best, a .safetensors or a legacy .pt file)."
        )

    def warm_model():
        model = lifecycle.new_model()
        lifecycle.stages["warm_start"] = load_initial_weights(model, init_from)
        return model

    lifecycle.smoke(warm_model(), FRAME_LOSS)
    learning_rate, winner = lifecycle.calibrate(warm_model, FRAME_LOSS)
    model = warm_model()
    model.load_state_dict(type(model).from_pretrained(winner).state_dict())
    gates = [lifecycle.gate(), V2_OPTIMIZED_MATERIAL_GATE]
    stages = curriculum_stages(
        V2_OPTIMIZED_CURRICULUM,
        lifecycle.template(learning_rate),
        lifecycle.budget.curriculum_seconds(lifecycle.family),
        gates,
    )
    records = train_curriculum(
        lifecycle.make_accelerator,
        model,
        lifecycle.processor,
        lifecycle.train,
        lifecycle.validation,
        stages,
        lifecycle.output,
        lifecycle.baselines,
        lifecycle.resume,
    )
    lifecycle.stages.update({record["stage"]: record for record in records})
    save_trained_model(model, lifecycle.processor, records[-1], lifecycle.output / "models" / "v2_optimized")
    _save_legacy(
        model,
        lifecycle.output / "legacy" / LEGACY_FILES["v2_optimized"]["global_best"],
        records[-1]["stage"],
        records[-1]["best"],
    )
    return lifecycle.write({"learning_rate": learning_rate, "init_from": str(init_from)})


def _train_ws5(lifecycle: _Lifecycle, **_) -> dict:
    teacher, learning_rate = _teacher_production(lifecycle)
    legacy = lifecycle.output / "legacy"
    _save_legacy(
        teacher, legacy / LEGACY_FILES["ws5"]["teacher"], "production", lifecycle.stages["production"]["best"]
    )
    lifecycle.smoke(lifecycle.new_model(role="student"), FRAME_LOSS, name="smoke_student")
    student, record = lifecycle.distill(teacher, learning_rate, WS5_CURRICULUM)
    save_trained_model(student, lifecycle.processor, record, lifecycle.output / "models" / "ws5_student")
    save_curriculum_legacy(student, record, legacy, "ws5")
    final = type(student).from_pretrained(lifecycle.output / "distillation" / "final")
    _save_legacy(final, legacy / LEGACY_FILES["ws5"]["final"], "final", {"step": record["steps"]})
    return lifecycle.write({"learning_rate": learning_rate})


def train_family(
    family: str,
    data: str | Path,
    output: str | Path,
    preset: str = "quick",
    resume: bool = False,
    init_from: str | Path | None = None,
) -> dict:
    """Runs the lifecycle of `family` (`v2_ultra`, `v2_optimized` or `ws5`) on the dataset `data` into `output`;
    returns the lifecycle record (also `output/lifecycle.json`).

    Args:
        init_from: V2-Optimized's warm start (a Hub-format folder, `.safetensors` or legacy `.pt`).

    Raises:
        ValueError: unknown family or preset, or a missing warm start.
        SmokeFailure, GateFailure, TrainingDivergedError: a stage failed; the message names the check and the
            measured values.
    """
    if family not in _RECIPES:
        raise ValueError(f"Unknown family {family!r} for `uruk train`; choose one of {list(FAMILIES)}.")
    lifecycle = _Lifecycle(family, Path(data), Path(output), preset, resume)
    trainers = {"v2_ultra": _train_v2_ultra, "v2_optimized": _train_v2_optimized, "ws5": _train_ws5}
    return trainers[family](lifecycle, init_from=init_from)


def train_student_from_scratch(
    family: str,
    data: str | Path,
    output: str | Path,
    learning_rate: float,
    time_s: float | None,
    preset: str = "quick",
    resume: bool = False,
) -> dict:
    """The control of a distilled student: the same student, curriculum and `learning_rate` as its distillation,
    without a teacher, within `time_s` seconds of training (the distilled student's wall time). Writes
    `output/models/<family>_scratch` and returns the curriculum record (also `output/scratch/record.json`)."""
    lifecycle = _Lifecycle(family, Path(data), Path(output), preset, resume)
    curriculum = {"v2_ultra": V2_ULTRA_CURRICULUM, "ws5": WS5_CURRICULUM}[family]
    scratch = [(name, weights, _NO_TEACHER) for name, weights, _ in curriculum]
    student, record = lifecycle.distill(None, learning_rate, scratch, folder_name="scratch", time_s=time_s)
    save_trained_model(student, lifecycle.processor, record, lifecycle.output / "models" / f"{family}_scratch")
    return record
