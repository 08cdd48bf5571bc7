"""Distillation with a `transformers.Trainer` subclass: a frozen teacher, a student, and a curriculum.

`UrukDistillationTrainer` runs student and teacher over the same batches and trains the student on its task's
`distillation_loss` (for the renderers: the frame loss to the ground truth, the teacher-bounded L1 to the teacher's
frame and the temperature-scaled KL divergence to the teacher's material distribution). Without a teacher it
trains the same student from scratch (the control a distilled student must beat).

The curriculum is a `TrainerCallback` (`UrukCurriculumCallback`): each `CurriculumStage` sets the loss terms, the
learning rate and budgets; the callback takes every evaluation through the same `StageProgress` path as the
Accelerate loop (keep the best, plateau: lower the LR, then end the stage; time budget; gate; record), keeps every
stage's best weights in `<output>/<stage>_best`, starts the next stage from them, and checks the stage's
`QualityGate` at its end (a failed gate stops training and `run_distillation` raises `GateFailure`).

Checkpoints are the Trainer's own `checkpoint-N` folders plus the curriculum state (JSON) and the task's auxiliary
state; a marker written last lists every file with its hash and tells complete checkpoints from ones a kill
interrupted, and `--resume` continues from the newest complete one after checking it (`training.checkpoint`: every
file as written, every pickle the Trainer will read loadable with `weights_only=True`).
"""

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from ..file_utils import atomic_path
from ..serialization import load_torch_file
from .checkpoint import CHECKPOINT_MARKER, check_trainer_checkpoint, write_checkpoint_marker
from .gates import GateFailure, QualityGate
from .progress import (
    HeadSelection,
    StageProgress,
    StageSettings,
    TrainingDivergedError,
    group_learning_rate,
    save_best_model,
    scheduled_learning_rate,
    stage_weights,
)

__all__ = [
    "CurriculumStage",
    "UrukCurriculumCallback",
    "UrukDistillationTrainer",
    "distillation_arguments",
    "latest_complete_checkpoint",
    "run_distillation",
]

_PROGRESS_FILE = "uruk_curriculum.json"
_TASK_STATE_FILE = "uruk_task_state.pt"


@dataclass(frozen=True)
class CurriculumStage:
    """One stage of a curriculum.

    Attributes:
        settings (`StageSettings`): name, ground-truth loss weights, learning rate, budgets and plateau rules.
            Batch size, warm-up, evaluation interval and seed of the run come from the first stage.
        distillation (*optional*): the task's teacher terms (for the renderers `DistillationWeights`; ignored
            without a teacher, `None`: none).
        gate (`QualityGate`, *optional*): checked on the stage's best validation metrics when the stage ends.
    """

    settings: StageSettings
    distillation: Any = None
    gate: QualityGate | None = None


class UrukCurriculumCallback(TrainerCallback):
    """Drives a curriculum from the Trainer's evaluations (see the module docstring).

    Args:
        stages: the curriculum, in order.
        task: the student's `Task` (selection score of each evaluation).
        output_dir: where each stage's best weights go (`<name>_best`).
        baselines: baseline metrics on the validation frames, keyed by name, for the stages' gates (`"previous"`,
            the previous stage's best metrics, is added).

    Raises:
        ValueError: a stage asks for a moving average of the weights (`ema_max_decay`), which only the Accelerate
            stage loop keeps.
    """

    def __init__(self, stages: list[CurriculumStage], task, output_dir: str | Path, baselines: dict | None = None):
        averaged = [stage.settings.name for stage in stages if stage.settings.ema_max_decay is not None]
        if averaged:
            raise ValueError(
                f"Curriculum stage {averaged[0]!r} sets ema_max_decay: the distillation Trainer keeps no moving "
                "average of the weights (the Accelerate stage loop does)."
            )
        self.stages, self.task, self.output_dir, self.baselines = stages, task, Path(output_dir), baselines or {}
        self.stage_index, self.stage_start_step = 0, 0
        self.progress = StageProgress()
        self.records: list[dict] = []
        self.gate_failure: dict | None = None
        self._clock = time.perf_counter()

    @property
    def current(self) -> CurriculumStage:
        return self.stages[self.stage_index]

    def state_dict(self) -> dict:
        return {
            "stage_index": self.stage_index,
            "stage_start_step": self.stage_start_step,
            "progress": self.progress.state_dict(),
            "records": self.records,
        }

    def load_state_dict(self, state: dict) -> None:
        self.stage_index, self.stage_start_step = state["stage_index"], state["stage_start_step"]
        self.progress.load_state_dict(state["progress"])
        self.records = state["records"]

    def on_train_begin(self, args, state, control, **kwargs):
        self._clock = time.perf_counter() - self.progress.elapsed

    def on_step_begin(self, args, state, control, lr_scheduler=None, optimizer=None, **kwargs):
        # The stage's rate with its own warm-up (every stage starts on new loss terms), lowered by its plateau
        # drops and its annealing, per parameter group; the Trainer's scheduler is constant.
        settings = self.current.settings
        step, elapsed = state.global_step - self.stage_start_step, time.perf_counter() - self._clock
        rate = scheduled_learning_rate(settings, self.progress.drops, step, elapsed)
        lr_scheduler.base_lrs = [group_learning_rate(group, rate) for group in optimizer.param_groups]

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        gradients = [parameter.grad.norm() for parameter in model.parameters() if parameter.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack(gradients))) if gradients else 0.0
        step = state.global_step - self.stage_start_step + 1  # the Trainer counts the step after it is taken
        self.progress.observe_gradient(norm, self.current.settings.name, step)

    def on_step_end(self, args, state, control, **kwargs):
        settings = self.current.settings
        out_of_time = (
            settings.time_budget_s is not None and time.perf_counter() - self._clock >= settings.time_budget_s
        )
        if state.global_step - self.stage_start_step >= settings.max_steps or out_of_time:
            control.should_evaluate = True
        return control

    def on_evaluate(self, args, state, control, metrics=None, model=None, lr_scheduler=None, optimizer=None, **_):
        stage = self.current
        metrics = {key.removeprefix("eval_"): value for key, value in metrics.items()}
        learning_rate = lr_scheduler.get_last_lr()[0] if lr_scheduler is not None else stage.settings.learning_rate
        self.progress.step = state.global_step - self.stage_start_step
        save_best = None
        if state.is_world_process_zero:

            def save_best():
                save_best_model(model, self.output_dir / f"{stage.settings.name}_best", optimizer)

        heads = self._heads(model)
        decision = self.progress.evaluated(
            metrics,
            heads.score(metrics),
            stage.settings,
            state.global_step,
            time.perf_counter() - self._clock,
            learning_rate,
            save_best,
            heads if state.is_world_process_zero else None,
        )
        if decision is None and self.progress.step >= stage.settings.max_steps:
            decision = "max_steps"
        if decision is not None:
            self.end_stage(decision, state, control, model)
        return control

    def _heads(self, model) -> HeadSelection:
        """The current stage's separately picked heads (`Task.separate_heads`), kept in `<stage>_heads/`."""
        stage = self.current
        weights = stage_weights(stage.settings, self.task)
        return HeadSelection(model, self.task, weights, self.output_dir / f"{stage.settings.name}_heads")

    def end_stage(self, decision: str, state, control, model) -> None:
        """Closes the current stage (`decision` says why): records it, checks its gate, and either stops training
        (last stage or a failed gate) or starts the next stage from this stage's best weights (with its
        separately picked heads composed in)."""
        stage = self.current
        best_folder = self.output_dir / f"{stage.settings.name}_best"
        heads = self._heads(model)
        if heads.heads and state.is_world_process_zero:
            heads.compose_into(type(model).from_pretrained(best_folder), best_folder, save=True)
        record = self.progress.close(
            stage.settings,
            decision,
            best_folder,
            stage.gate,
            self.baselines,
            self.records[-1]["best"] if self.records else None,
            rescore=heads.full_score,
            distillation=None if stage.distillation is None else asdict(stage.distillation),
        )
        if "gate" in record and not record["gate"]["passed"]:
            self.gate_failure = record["gate"]
        self.records.append(record)
        if self.gate_failure is not None or self.stage_index == len(self.stages) - 1:
            control.should_training_stop = True
            return
        # The next stage starts from this stage's best weights, at its own learning rate and budgets.
        best_state = type(model).from_pretrained(best_folder).state_dict()
        model.load_state_dict(best_state)
        self.stage_index += 1
        self.stage_start_step = state.global_step
        self.progress = StageProgress()
        self._clock = time.perf_counter()


class UrukDistillationTrainer(Trainer):
    """A `Trainer` that distills `teacher` into the trained model along a curriculum.

    Args:
        teacher: the frozen teacher (`None`: train the student from scratch on the task's own loss).
        task: the student's `Task` (forward, loss, teacher terms, evaluation, parameter groups).
        curriculum: the `UrukCurriculumCallback` driving stages and loss terms (added to the callbacks).
        All other arguments are `Trainer`'s; pass `data_collator=task.collate` and
        `TrainingArguments(remove_unused_columns=False, ...)` (see `distillation_arguments`).
    """

    def __init__(self, *args, teacher=None, task, curriculum: UrukCurriculumCallback, **kw):
        super().__init__(*args, **kw)
        if teacher is not None:
            student_layout = getattr(self.model.config, "input_buffers", None)
            if getattr(teacher.config, "input_buffers", None) != student_layout:
                raise ValueError("Teacher and student must read the same input layout to share batches.")
            teacher.requires_grad_(False).eval().to(self.args.device)
        self.teacher, self.task, self.curriculum = teacher, task, curriculum
        self._student_outputs = None
        self.add_callback(curriculum)

    def create_optimizer(self):
        """AdamW over the task's parameter groups (each with its `lr_scale`) with the arguments' rate and weight
        decay."""
        if self.optimizer is None:
            self.optimizer = torch.optim.AdamW(
                self.task.parameter_groups(self.model),
                lr=self.args.learning_rate,
                weight_decay=self.args.weight_decay,
            )
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        stage = self.curriculum.current
        weights = stage_weights(stage.settings, self.task)
        student = self.task.forward(model, inputs)
        if self.teacher is not None and self.task.uses_teacher(stage.distillation):
            teacher = self.task.teacher_outputs(self.teacher, inputs)
            loss = self.task.distillation_loss(student, teacher, inputs, weights, stage.distillation)
        else:
            loss = self.task.loss(student, inputs, weights)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"{stage.settings.name}: loss is {loss.item()} at step {self.state.global_step + 1}."
            )
        self._student_outputs = student
        return (loss, student) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        """`Trainer.training_step` (forward, loss, backward), then the task's auxiliary step on the same outputs."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        weights = stage_weights(self.curriculum.current.settings, self.task)
        auxiliary = self.task.auxiliary_step(self._student_outputs, inputs, weights)
        if auxiliary:
            self.log(auxiliary)
        return loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """The task's validation metrics, logged and passed to the callbacks."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        metrics = self.task.evaluate(self.model, dataset)
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in metrics.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        # Every process writes its own RNG state into the folder: all must be done before it is marked complete.
        self.accelerator.wait_for_everyone()
        if not self.args.should_save:
            return
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        with atomic_path(folder / _PROGRESS_FILE) as temporary:
            temporary.write_text(json.dumps(self.curriculum.state_dict()))
        task_state = self.task.state_dict()
        if task_state:
            torch.save(task_state, folder / _TASK_STATE_FILE)
        write_checkpoint_marker(folder, step=self.state.global_step)

    def train(self, resume_from_checkpoint: str | Path | None = None, **kwargs):
        """`Trainer.train`; when resuming, the checkpoint is checked first (`check_trainer_checkpoint`), then the
        curriculum and task state saved with it are restored.

        Raises:
            uruk_hf.training.checkpoint.CheckpointError: a file of the checkpoint differs from what was written or
                holds something other than data (nothing in it is executed).
        """
        if resume_from_checkpoint is not None:
            folder = Path(resume_from_checkpoint)
            check_trainer_checkpoint(folder)
            self.curriculum.load_state_dict(json.loads((folder / _PROGRESS_FILE).read_text()))
            if (folder / _TASK_STATE_FILE).is_file():
                state = load_torch_file(folder / _TASK_STATE_FILE, what="task state")
                self.task.load_state_dict(state, self.args.device)
            resume_from_checkpoint = str(folder)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)


def latest_complete_checkpoint(folder: str | Path) -> Path | None:
    """The newest `checkpoint-N` under `folder` whose save finished (its marker exists); interrupted ones are
    deleted so that they can never load."""
    folder = Path(folder)
    complete = []
    for candidate in folder.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", candidate.name)
        if not match or not candidate.is_dir():
            continue
        if (candidate / CHECKPOINT_MARKER).is_file():
            complete.append((int(match.group(1)), candidate))
        else:
            shutil.rmtree(candidate, ignore_errors=True)
    return max(complete)[1] if complete else None


def distillation_arguments(stages: list[CurriculumStage], output_dir: str | Path, **overrides) -> TrainingArguments:
    """`TrainingArguments` of a curriculum run: the first stage's batch size, evaluation interval and seed;
    evaluation and a checkpoint every `eval_every` steps; a constant scheduler (the curriculum callback sets each
    step's rate: per-stage warm-up, plateau drops, annealing); TensorBoard logs under `output_dir/runs`."""
    first = stages[0].settings
    arguments = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=first.batch_size,
        learning_rate=first.learning_rate,
        weight_decay=first.weight_decay,
        lr_scheduler_type="constant",
        max_steps=sum(stage.settings.max_steps for stage in stages),
        max_grad_norm=1.0,
        eval_strategy="steps",
        eval_steps=first.eval_every,
        save_strategy="steps",
        save_steps=first.eval_every,
        save_total_limit=2,
        logging_steps=max(1, min(10, first.eval_every)),
        logging_dir=str(Path(output_dir) / "runs"),
        report_to=["tensorboard"],
        remove_unused_columns=False,
        dataloader_drop_last=True,
        use_cpu=not torch.cuda.is_available(),
        seed=first.seed,
        data_seed=first.seed,
        save_safetensors=True,
    )
    arguments.update(overrides)
    return TrainingArguments(**arguments)


def run_distillation(
    student,
    teacher,
    task,
    train_dataset,
    validation_dataset,
    stages: list[CurriculumStage],
    output_dir: str | Path,
    baselines: dict | None = None,
    resume: bool = False,
    **argument_overrides,
) -> dict:
    """Trains `student` along `stages` (from `teacher`, or from scratch when it is `None`), saves its last weights
    to `output_dir/final`, loads the global best weights (best selection score over the stages) into it and returns
    the record, also written to `output_dir/record.json`. Before training, the task hands the student what it takes
    from its teacher (`Task.prepare_student`; the record says what it did).

    Raises:
        GateFailure: a stage's gate failed (the record is written first, with the failing gate).
        TrainingDivergedError: the loss became NaN or Inf.
    """
    output_dir = Path(output_dir)
    started = time.perf_counter()
    prepared = task.prepare_student(student, teacher)
    curriculum = UrukCurriculumCallback(stages, task, output_dir, baselines)
    trainer = UrukDistillationTrainer(
        model=student,
        teacher=teacher,
        task=task,
        curriculum=curriculum,
        args=distillation_arguments(stages, output_dir / "checkpoints", **argument_overrides),
        train_dataset=train_dataset,
        eval_dataset=validation_dataset,
        data_collator=task.collate,
    )
    checkpoint = latest_complete_checkpoint(output_dir / "checkpoints") if resume else None
    resumed_from = None
    if checkpoint is not None:
        resumed_from = int(checkpoint.name.split("-")[1])
    trainer.train(resume_from_checkpoint=checkpoint)
    records = curriculum.records
    if len(records) == len(stages) - 1 and curriculum.gate_failure is None:
        # The Trainer's step limit came first (e.g. a run resumed with fewer steps than it had done): the open last
        # stage ends on a final evaluation.
        trainer.evaluate()
        if len(records) == len(stages) - 1:
            curriculum.end_stage("max_steps", trainer.state, trainer.control, student)
    if len(records) != len(stages) and curriculum.gate_failure is None:
        raise RuntimeError(f"Training ended after {len(records)} of {len(stages)} curriculum stages.")
    if trainer.is_world_process_zero():
        save_best_model(student, output_dir / "final")
    global_best = max(records, key=lambda record: record["best"]["score"])
    student.load_state_dict(type(student).from_pretrained(global_best["best_folder"]).state_dict())
    record = {
        "teacher": None if teacher is None else teacher.config.model_type + "/" + str(teacher.config.role),
        **prepared,
        "stages": records,
        "global_best_stage": global_best["stage"],
        "global_best": global_best["best"],
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "seconds": time.perf_counter() - started,
        "processes": trainer.args.world_size,
    }
    if trainer.is_world_process_zero():
        with atomic_path(output_dir / "record.json") as temporary:
            temporary.write_text(json.dumps(record, indent=2, default=str))
    if curriculum.gate_failure is not None:
        raise GateFailure(curriculum.gate_failure)
    return record
