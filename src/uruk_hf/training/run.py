"""`uruk train <family>`: a family's lifecycle (DESIGN §4), each stage deciding the next from measurements and
writing a record.

`Lifecycle` holds the stages every family shares (Smoke, Calibration, Production on the Accelerate loop, a
curriculum on the Accelerate loop, Distillation through `UrukDistillationTrainer`), bound to one family, dataset,
run folder and preset; a family's recipe (`uruk_hf.models.<family>.recipe_<family>`) strings them together and
decides what it saves.

A run folder holds one folder per stage (`smoke/`, `calibration/`, `production/`, `distillation/`, ...), each
with its `record.json`; the final models in Hub format under `models/<model key>/`; the seed's legacy `.pt`
files under `legacy/` at the seed's relative paths; and `lifecycle.json` (stages, budgets, git revision,
command); `run_options.json` records how the run was started (family, preset, seed, the family's options) before
its first stage. With `resume=True` finished stages are read back from their records, the interrupted stage
continues from its last complete checkpoint, and options left out take the values the run was started with.
"""

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import torch

from ..catalog import Family, TrainOption, get_family
from ..file_utils import atomic_path
from .curriculum import curriculum_stages
from .distillation import run_distillation
from .gates import QualityGate
from .lifecycle import SmokeSettings, finished_record, run_calibration, run_smoke, train_curriculum
from .progress import OPTIMIZER_FILE, StageSettings, TrainingDivergedError
from .stage import save_trained_model
from .warm_start import load_initial_weights

__all__ = [
    "DIVERGED_RECORD",
    "DIVERGED_STAGE_PREFIX",
    "LIFECYCLE_PRESETS",
    "PRODUCTION_STEPS_OPTION",
    "RUN_OPTIONS",
    "TIME_SCALE_OPTION",
    "Lifecycle",
    "LifecyclePreset",
    "positive_number",
    "production_step_cap",
    "read_run_options",
    "run_lifecycle",
    "save_curriculum_legacy",
    "save_legacy",
    "scaled_time_budgets",
    "train_family",
    "uruk_train_options",
    "whole_number",
]


@dataclass(frozen=True)
class LifecyclePreset:
    """Budgets of the lifecycle stages at one preset.

    Attributes:
        smoke (`SmokeSettings`): the Smoke checks.
        calibration_learning_rates (`tuple[float, ...]`): candidates of the Calibration stage.
        calibration_steps (`int`): steps per candidate; the winner's weights continue into the next stage.
        stage (`StageSettings`): template of every training stage (batch size, evaluation interval, warm-up,
            plateau rules, annealing, step cap); each stage sets its own name, loss terms and learning rate.
        gate_margin (`float`): how far above the task's gate baseline (e.g. dB of PSNR above the cheap `direct`
            render) every default gate requires the validation metric to be.
        production_time_s (`float | None`): wall-clock budget of the Production stage (None: no time limit).
        curriculum_time_s (`float | None`): wall-clock budget of a whole curriculum (Distillation, a curriculum on
            the Accelerate loop), shared evenly by its stages (None: no time limit).
    """

    smoke: SmokeSettings
    calibration_learning_rates: tuple[float, ...]
    calibration_steps: int
    stage: StageSettings
    gate_margin: float
    production_time_s: float | None = None
    curriculum_time_s: float | None = None


LIFECYCLE_PRESETS = {
    "tiny": LifecyclePreset(
        SmokeSettings(steps=12, min_loss_drop=0.02),
        (1e-3, 5e-3),
        2,
        StageSettings("template", max_steps=4, eval_every=2, batch_size=2, warmup_steps=1),
        gate_margin=-100.0,
    ),
    "quick": LifecyclePreset(
        SmokeSettings(),
        (2e-3, 4e-3),
        40,
        StageSettings("template", max_steps=3000, eval_every=40, patience=3, batch_size=4, warmup_steps=20),
        gate_margin=2.0,
    ),
    "full": LifecyclePreset(
        SmokeSettings(),
        (5e-4, 1e-3, 2e-3),
        500,
        StageSettings("template", max_steps=100_000, eval_every=1000, patience=5, batch_size=8, warmup_steps=500),
        gate_margin=5.0,
    ),
}
"""Stage budgets per preset, without time limits; a family's recipe adds its own (`Lifecycle(time_budgets=...)`) so
that at `quick` the whole `uruk pipeline` (data and every family) fits 30 minutes on 2 CPU cores."""


TIME_SCALE_OPTION = TrainOption(
    "--time-scale",
    "multiply the preset's time budgets (Production, distillation) by this factor: train longer than the quick "
    "preset's minutes allow, on the same data and model size",
)
"""The `uruk train <family> --time-scale F` option of the families whose recipes take `time_scale`."""

PRODUCTION_STEPS_OPTION = TrainOption(
    "--production-steps",
    "cap Production at this many optimizer steps instead of the preset's (give it the time too: --time-scale)",
)
"""The `uruk train <family> --production-steps N` option of the families whose recipes take `production_steps`."""


def production_step_cap(value: str | int | None) -> dict:
    """Production's stage fields for `--production-steps` (`Lifecycle(production_settings=...)`): `{"max_steps": N}`,
    or nothing when `value` is `None`.

    Raises:
        ValueError: `value` is not a whole number of steps above zero.
    """
    if value is None:
        return {}
    return {"max_steps": whole_number(value, "--production-steps", 1, "steps above zero")}


def whole_number(value: str | int, option: str, minimum: int, what: str) -> int:
    """`value` (a command-line string or a number) as a whole number of at least `minimum`.

    Raises:
        ValueError: it is not; the message names `option` and says what it counts (`what`).
    """
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ValueError(f"{option} must be a whole number of {what}, got {value!r}.")
    return number


def positive_number(value: str | float, option: str) -> float:
    """`value` (a command-line string or a number) as a positive float.

    Raises:
        ValueError: it is not a positive number; the message names `option`.
    """
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ValueError(f"{option} must be a positive number, got {value!r}.")
    return number


def scaled_time_budgets(budgets: dict, time_scale: str | float | None) -> dict:
    """`budgets` (`{preset: (production seconds, curriculum seconds)}`) with every limit multiplied by
    `time_scale` (unchanged when it is `None`).

    Raises:
        ValueError: `time_scale` is not a positive number.
    """
    if time_scale is None:
        return budgets
    factor = positive_number(time_scale, "--time-scale")
    return {
        preset: tuple(None if seconds is None else seconds * factor for seconds in limits)
        for preset, limits in budgets.items()
    }


def _git_revision() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


DIVERGED_RECORD = "diverged.json"
"""Written into a diverged Production's set-aside folder: its rate and error (`Lifecycle.train_model`)."""

DIVERGED_STAGE_PREFIX = "production_diverged_lr"
"""The name of a diverged Production's set-aside folder and lifecycle stage, before its rate."""


def _set_aside_diverged(folder: Path, set_aside: Path, learning_rate: float, error: Exception) -> dict:
    """Renames the diverged stage `folder` to `set_aside` (replacing what an earlier run, not resumed, set aside
    there) and writes its `DIVERGED_RECORD`; returns the record."""
    record = {"stage": folder.name, "learning_rate": learning_rate, "error": str(error)}
    if set_aside.exists():
        shutil.rmtree(set_aside)
    if folder.exists():
        folder.rename(set_aside)
    set_aside.mkdir(parents=True, exist_ok=True)
    with atomic_path(set_aside / DIVERGED_RECORD) as temporary:
        temporary.write_text(json.dumps(record, indent=2))
    return record


def _without_history(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "history"}


def save_legacy(model, path: Path, stage: str, metrics: dict, optimizer_file: Path | None = None) -> None:
    """A seed-layout `.pt` file of `model`; stage checkpoints also carry the optimizer state saved with their best
    weights (`optimizer_file`)."""
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


def save_curriculum_legacy(student, record: dict, legacy_root: Path, legacy_files: tuple, stage_files: dict) -> None:
    """Writes the legacy `.pt` files of a distillation record under `legacy_root`: `student` (holding the global
    best) as `legacy_files[0]`, and each curriculum stage named in `stage_files` (stage -> index into
    `legacy_files`) from that stage's best weights and optimizer state."""
    for stage in record["stages"]:
        if stage["stage"] in stage_files:
            folder = Path(stage["best_folder"])
            stage_model = type(student).from_pretrained(folder)
            path = Path(legacy_root) / legacy_files[stage_files[stage["stage"]]]
            save_legacy(stage_model, path, stage["stage"], stage["best"], folder / OPTIMIZER_FILE)
    save_legacy(student, Path(legacy_root) / legacy_files[0], record["global_best_stage"], record["global_best"])


class Lifecycle:
    """The shared stages of every family's lifecycle, bound to one family, dataset, run folder and preset.

    Args:
        family: the `Family` (its first model's config at `preset` decides the task and the data layout).
        data: the dataset folder.
        output: the run folder.
        preset: `tiny`, `quick` or `full`.
        resume: read finished stages back from their records; continue the interrupted one.
        time_budgets: the family's `(production seconds, curriculum seconds)` per preset (a preset it does not
            list, and `None` entries, have no time limit).
        stage_overrides: fields of the preset's stage template the family sets otherwise (e.g. its batch size).
        task_model: the model whose config decides the task and its data (default: the family's first).
        calibration_learning_rates: the family's own Calibration candidates instead of the preset's.
        seed: the training seed (initialization, shuffling, sampling) of every stage; the data stay as generated.
        config_fields: config fields the recipe sets on top of the preset in every model it builds (`new_model`).
        production_settings: fields of the stage template that Production (and its rerun) alone sets (e.g. WS3's
            moving average of the teacher's weights, `StageSettings.ema_max_decay`).
    """

    def __init__(
        self,
        family: Family,
        data: Path,
        output: Path,
        preset: str,
        resume: bool,
        time_budgets: dict[str, tuple[float | None, float | None]] | None = None,
        stage_overrides: dict | None = None,
        task_model: str | None = None,
        calibration_learning_rates: tuple[float, ...] | None = None,
        seed: int = 0,
        config_fields: dict | None = None,
        production_settings: dict | None = None,
    ):
        if preset not in LIFECYCLE_PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(LIFECYCLE_PRESETS)}.")
        production_time_s, curriculum_time_s = (time_budgets or {}).get(preset, (None, None))
        self.family, self.data, self.output, self.preset, self.resume = (
            family,
            Path(data),
            Path(output),
            preset,
            resume,
        )
        preset_budget = LIFECYCLE_PRESETS[preset]
        self.budget = replace(
            preset_budget,
            stage=replace(preset_budget.stage, **{**(stage_overrides or {}), "seed": seed}),
            production_time_s=production_time_s,
            curriculum_time_s=curriculum_time_s,
            calibration_learning_rates=calibration_learning_rates or preset_budget.calibration_learning_rates,
        )
        self.config_fields = dict(config_fields or {})
        self.production_settings = dict(production_settings or {})
        self.stages: dict[str, dict] = {}
        self.started = time.perf_counter()
        task_entry = family.model(task_model) if task_model is not None else family.models[0]
        self.task = family.make_task(task_entry.config(preset))
        self.train = self.task.dataset(self.data, "train")
        self.validation = self.task.dataset(self.data, "validation")
        self.baselines = self.task.gate_baselines(self.validation)

    def gate(self) -> QualityGate:
        """The default gate: the task's gate metric above its gate baseline by the preset's margin (in the task's
        units: `Task.gate_margin_scale`)."""
        margin = self.budget.gate_margin * self.task.gate_margin_scale
        return QualityGate(metric=self.task.gate_metric, baseline=self.task.gate_baseline, margin=margin)

    def previous_stage_gate(self, allowed_loss: float) -> QualityGate:
        """A later curriculum stage's gate: the task's gate metric at most `allowed_loss` below what the stage before
        it reached (in the task's units: `Task.gate_margin_scale`). Under a preset whose default gates accept
        anything (`tiny`, a few steps to test the plumbing), this one does too (`QualityGate.after_previous_stage`)."""
        scale = self.task.gate_margin_scale
        return QualityGate.after_previous_stage(
            allowed_loss * scale, self.budget.gate_margin * scale, self.task.gate_metric
        )

    def template(self, learning_rate: float) -> StageSettings:
        """The preset's stage settings at `learning_rate` (`curriculum_stages` names each stage and its terms)."""
        return replace(self.budget.stage, learning_rate=learning_rate)

    def new_model(self, key: str):
        """A freshly initialized model `key` at the preset, with the recipe's `config_fields` (seeded)."""
        entry = self.family.model(key)
        torch.manual_seed(self.budget.stage.seed)
        return entry.model_class(entry.config(self.preset, **self.config_fields))

    def warm_started_model(self, key: str, init_from: str | Path, reinitialize: tuple[str, ...] = ()):
        """A new model `key` holding the weights of `init_from` (`load_initial_weights`: the tensors under
        `reinitialize` may differ in shape and keep their initialization); the report is the `warm_start` stage."""
        model = self.new_model(key)
        self.stages["warm_start"] = load_initial_weights(model, init_from, reinitialize)
        return model

    def smoke(self, model, weights, name: str = "smoke") -> None:
        folder = self.output / name
        self.stages[name] = finished_record(folder, self.resume) or run_smoke(
            model, self.task, self.train, weights, self.budget.smoke, folder
        )

    def calibrate(self, make_model, weights) -> float:
        """Calibration over the preset's learning rates; returns the chosen rate (its candidate's best weights:
        `calibration_weights`)."""
        folder = self.output / "calibration"
        (stage,) = curriculum_stages([("calibration", weights, None)], self.template(0.0))
        settings = replace(
            stage.settings, max_steps=self.budget.calibration_steps, eval_every=self.budget.calibration_steps
        )
        record = finished_record(folder, self.resume) or run_calibration(
            make_model,
            self.task,
            self.train,
            self.validation,
            settings,
            list(self.budget.calibration_learning_rates),
            folder,
        )
        self.stages["calibration"] = record
        return record["chosen_learning_rate"]

    def calibration_weights(self, learning_rate: float) -> Path:
        """The best weights of Calibration's candidate at `learning_rate`."""
        return self.output / "calibration" / f"calibration_lr{learning_rate:g}" / "best"

    def model_from_calibration(self, make_model, learning_rate: float):
        """A fresh `make_model()` holding the best weights of Calibration's candidate at `learning_rate`."""
        model = make_model()
        model.load_state_dict(type(model).from_pretrained(self.calibration_weights(learning_rate)).state_dict())
        return model

    def calibrated_model(self, key: str, weights, make_model=None) -> tuple[object, float]:
        """Smoke, then Calibration of model `key` (`make_model` builds a fresh one; default `new_model(key)`);
        returns a model holding the winner's weights and the chosen learning rate."""
        make_model = make_model or (lambda: self.new_model(key))
        self.smoke(make_model(), weights)
        learning_rate = self.calibrate(make_model, weights)
        return self.model_from_calibration(make_model, learning_rate), learning_rate

    def accelerate_curriculum(
        self,
        model,
        curriculum: list,
        learning_rate: float,
        time_s: float | None,
        gates,
        train_dataset=None,
        **settings,
    ):
        """The stages of `curriculum` on the Accelerate loop (each from the previous stage's best weights, its gate
        checked at its end); the best weights of the last stage end in `model`. Returns the stage records.
        `train_dataset` replaces the training split, `settings` fields of the stage template (e.g. `max_steps`)."""
        stages = curriculum_stages(curriculum, replace(self.template(learning_rate), **settings), time_s, gates)
        records = train_curriculum(
            self.make_accelerator,
            model,
            self.task,
            self.train if train_dataset is None else train_dataset,
            self.validation,
            stages,
            self.output,
            self.baselines,
            self.resume,
        )
        self.stages.update({record["stage"]: record for record in records})
        return records

    def production(self, model, weights, learning_rate: float) -> dict:
        """Production on the Accelerate loop within the preset's Production budget and with the recipe's
        `production_settings` (its best weights loaded into `model`), then the default gate."""
        (record,) = self.accelerate_curriculum(
            model,
            [("production", weights, None)],
            learning_rate,
            self.budget.production_time_s,
            [self.gate()],
            **self.production_settings,
        )
        return record

    def train_model(self, key: str, weights) -> tuple[object, dict, float]:
        """Smoke, Calibration and Production of a fresh model `key` under the loss-term `weights`, saved under
        `models/<key>`; returns the model (holding its best weights), the Production record and the learning rate
        it trained at.

        A Production that diverges (`TrainingDivergedError`: a NaN loss, a dead gradient) starts again from the
        Calibration weights of the next lower candidate rate, at that rate; the diverged run's folder is set aside
        as `production_diverged_lr<rate>` with the error in its `diverged.json` (also a stage of the lifecycle
        record), and a resumed run skips the rates set aside. The error is raised when no lower rate is left.
        Calibration's few steps cannot tell a rate that stays stable for thousands of steps from one that does
        not: the WS3 teacher with circular padding diverged at 4e-3 after 155 steps on one seed of three."""
        make_model = partial(self.new_model, key)
        self.smoke(make_model(), weights)
        chosen = self.calibrate(make_model, weights)
        lower = sorted((rate for rate in self.budget.calibration_learning_rates if rate < chosen), reverse=True)
        rates = [chosen, *lower]
        for learning_rate in rates:
            set_aside = self.output / f"{DIVERGED_STAGE_PREFIX}{learning_rate:g}"
            if self.resume and (set_aside / DIVERGED_RECORD).is_file():
                self.stages[set_aside.name] = json.loads((set_aside / DIVERGED_RECORD).read_text())
                continue
            model = self.model_from_calibration(make_model, learning_rate)
            try:
                record = self.production(model, weights, learning_rate)
                break
            except TrainingDivergedError as error:
                if learning_rate == rates[-1]:
                    raise
                self.stages[set_aside.name] = _set_aside_diverged(
                    self.output / "production", set_aside, learning_rate, error
                )
        self.save_model(key, model, record)
        return model, record, learning_rate

    def rerun(self, key: str, weights, learning_rate: float, budget_factor: float) -> tuple[object, dict]:
        """An honest rerun ("v2"): Smoke of a fresh model `key`, then a fresh one trained from scratch in the stage
        `production_v2` at `learning_rate` (the one an earlier Calibration chose) within `budget_factor` x the
        Production budget, gated; saved under `models/<key>` with its first legacy file. Returns the model (holding
        its best weights) and the stage record."""
        self.smoke(self.new_model(key), weights, name="smoke_v2")
        model = self.new_model(key)
        production_s = self.budget.production_time_s
        (record,) = self.accelerate_curriculum(
            model,
            [("production_v2", weights, None)],
            learning_rate,
            None if production_s is None else production_s * budget_factor,
            [self.gate()],
            **self.production_settings,
        )
        self.save_model(key, model, record)
        save_legacy(model, self.legacy_path(key), "production_v2", record["best"])
        return model, record

    def train_student(
        self, key: str, teacher, learning_rate: float, curriculum: list, weights, prune_teacher: bool = False
    ) -> tuple[object, dict]:
        """Smoke of student `key` under `weights`, then its `distill` curriculum from `teacher` (from the teacher's
        pruned weights with `prune_teacher`); saves it under `models/<key>` with its legacy files: its global best
        as the first, the curriculum's final weights as the second. Returns the student (holding its global best)
        and the distillation record."""
        self.smoke(self.new_model(key), weights, name="smoke_student")
        student, record = self.distill(key, teacher, learning_rate, curriculum, prune_teacher=prune_teacher)
        self.save_model(key, student, record)
        self.save_curriculum_legacy(key, student, record, {})
        final = type(student).from_pretrained(self.output / "distillation" / "final")
        save_legacy(final, self.legacy_path(key, 1), "final", {"step": record["steps"]})
        return student, record

    def make_accelerator(self, name: str):
        from accelerate import Accelerator

        accelerator = Accelerator(
            cpu=not torch.cuda.is_available(), log_with="tensorboard", project_dir=str(self.output)
        )
        accelerator.init_trackers(f"{self.family.name}_{name}")
        return accelerator

    def distill(
        self,
        key: str,
        teacher,
        learning_rate: float,
        curriculum: list,
        folder_name: str = "distillation",
        time_s: float | None = None,
        prune_teacher: bool = False,
    ) -> tuple[object, dict]:
        """The curriculum of student `key` through `UrukDistillationTrainer` (from scratch when `teacher` is None),
        the default gate after every stage, within `time_s` (default: the preset's curriculum budget). With
        `prune_teacher` the student starts from the teacher's weights cut to its widths (its model class's
        `initialize_from_teacher`; the report is the `student_init` stage) instead of a fresh initialization."""
        folder = self.output / folder_name
        stages = curriculum_stages(
            curriculum,
            self.template(learning_rate),
            self.budget.curriculum_time_s if time_s is None else time_s,
            [self.gate()] * len(curriculum),
        )
        student = self.new_model(key)
        if prune_teacher:
            self.stages["student_init"] = {"method": "pruned teacher", **student.initialize_from_teacher(teacher)}
        record = finished_record(folder, self.resume)
        if record is not None:
            best = next(stage for stage in record["stages"] if stage["stage"] == record["global_best_stage"])
            student.load_state_dict(type(student).from_pretrained(best["best_folder"]).state_dict())
        else:
            record = run_distillation(
                student,
                teacher,
                self.task,
                self.train,
                self.validation,
                stages,
                folder,
                baselines=self.baselines,
                resume=self.resume,
            )
        self.stages[folder_name] = record
        return student, record

    def save_model(self, key: str, model, record: dict) -> Path:
        """Chooses the trained model `key`'s inference settings on the validation split (`Task.tune_inference`,
        recorded as the stage `inference_<key>` when the task has any), then saves it (Hub format, with its task's
        extras and `record`) under `models/<key>`; returns the folder."""
        tuned = self.task.tune_inference(model, self.validation)
        if tuned:
            self.stages[f"inference_{key}"] = tuned
        folder = self.output / "models" / key
        save_trained_model(model, record, folder, self.task)
        return folder

    def legacy_path(self, key: str, index: int = 0) -> Path:
        """Where the `index`-th legacy file of model `key` goes in the run folder."""
        return self.output / "legacy" / self.family.model(key).legacy_files[index]

    def save_curriculum_legacy(self, key: str, student, record: dict, stage_files: dict[str, int]) -> None:
        """Writes model `key`'s legacy `.pt` files of a distillation record: `student` (holding the global best)
        as its first legacy file, and each curriculum stage named in `stage_files` (stage -> index of its legacy
        file) from that stage's best weights and optimizer state."""
        save_curriculum_legacy(
            student, record, self.output / "legacy", self.family.model(key).legacy_files, stage_files
        )

    def write(self, extra: dict | None = None) -> dict:
        """Writes and returns `lifecycle.json`."""
        record = {
            "family": self.family.name,
            "preset": self.preset,
            "seed": self.budget.stage.seed,
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


def train_family(
    family: str,
    data: str | Path,
    output: str | Path,
    preset: str = "quick",
    resume: bool = False,
    seed: int = 0,
    **options,
) -> dict:
    """Runs the lifecycle of the registered family `family` on the dataset `data` into `output`; returns the
    lifecycle record (also `output/lifecycle.json`).

    Args:
        seed: the training seed (initialization, shuffling, sampling); two seeds on one dataset measure the
            recipe's run-to-run spread.
        options: the family's own options (its `Family.options`, e.g. V2-Optimized's `init_from`).

    Raises:
        ValueError: unknown family or preset, or a missing option the family needs.
        SmokeFailure, GateFailure, TrainingDivergedError: a stage failed; the message names the check and the
            measured values.
    """
    return run_lifecycle(get_family(family), data, output, preset, resume, seed=seed, **options)


RUN_OPTIONS = "run_options.json"
"""A run folder's record of how it was started: family, preset, seed and the family's options given."""


def run_lifecycle(
    family: Family,
    data,
    output,
    preset: str = "quick",
    resume: bool = False,
    seed: int = 0,
    started_by: str = "uruk train",
    **options,
) -> dict:
    """Runs `family`'s lifecycle into the run folder `output`, as `uruk train` and the pipeline do (`started_by`,
    recorded when the run starts and kept when it is resumed, so that a card can say what trained its model).

    A fresh run (`resume=False`) refuses a folder that holds another run's trained stages, so that a finished run
    is never overwritten by a command that forgot `--resume`. A resumed run continues the run as it was started
    (`RUN_OPTIONS`): options that are `None` here take their recorded values (an option given again replaces its
    recorded value, e.g. more self-training rounds), and another preset or seed is refused, since the finished
    stages were trained under the recorded ones.

    Raises:
        FileExistsError: a fresh run into a folder that holds trained stages.
        ValueError: a resumed run under another family, preset or seed than its `RUN_OPTIONS` record.
    """
    output = Path(output)
    record_path = output / RUN_OPTIONS
    if not resume and _holds_trained_stages(output):
        raise FileExistsError(
            f"{output} holds a run already (stage records or checkpoints): pass --resume to continue it, or give "
            "another --output."
        )
    recorded = read_run_options(record_path) if resume else None
    if recorded is not None:
        for field, value in (("family", family.name), ("preset", preset), ("seed", seed)):
            if recorded.get(field) != value:
                raise ValueError(
                    f"{record_path}: this run was started with {field} {recorded.get(field)!r}, not {value!r}; "
                    f"resume it with the same {field}, or give another --output."
                )
        known = {option.keyword for option in family.options}
        given = {name: value for name, value in recorded.get("options", {}).items() if name in known}
        options = {**given, **{name: value for name, value in options.items() if value is not None}}
        started_by = recorded.get("started_by", started_by)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(record_path) as temporary:
        record = {"family": family.name, "preset": preset, "seed": seed, "data": str(data), "options": options}
        record["started_by"] = started_by
        temporary.write_text(json.dumps(record, indent=2, default=str))
    return family.run_lifecycle(data, output, preset, resume, seed=seed, **options)


def read_run_options(path: Path) -> dict | None:
    """The `RUN_OPTIONS` record at `path` (`None` when the run predates it); a clear error when it is not one."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a run's options record (JSON): {error}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a run's options record: it holds a {type(record).__name__}, not an object.")
    return record


def uruk_train_options(run_folder: Path) -> dict | None:
    """The `RUN_OPTIONS` record of `run_folder` when `uruk train` started its run (a pipeline folder's family run
    trained beforehand with options of its own), `None` when the pipeline did or the run predates the record."""
    recorded = read_run_options(run_folder / RUN_OPTIONS)
    return recorded if recorded is not None and recorded.get("started_by") == "uruk train" else None


def _holds_trained_stages(output: Path) -> bool:
    """Whether `output` holds a lifecycle record, a stage record or a stage checkpoint of an earlier run."""
    if not output.is_dir():
        return False
    return (output / "lifecycle.json").is_file() or any(
        path.name == "record.json" or path.name.startswith("checkpoint") for path in output.rglob("*")
    )
