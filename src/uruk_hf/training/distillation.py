"""Distillation with a `transformers.Trainer` subclass: a frozen teacher, a student, and a curriculum.

`UrukDistillationTrainer` unrolls student and teacher over the same clips (each fed its own previous output as
history) and trains the student on `distillation_loss`: the frame loss to the ground truth, the teacher-bounded L1
to the teacher's frame (counted where the teacher is closer to the ground truth than the student), and the
temperature-scaled KL divergence to the teacher's material distribution. Without a
teacher it trains the same student from scratch (the control a distilled student must beat).

The curriculum is a `TrainerCallback` (`UrukCurriculumCallback`): each `CurriculumStage` sets the loss terms, the
learning rate and budgets; the callback evaluates the stage's progress with the same `StageProgress` as the
Accelerate loop (plateau: lower the LR, then end the stage; time budget), keeps every stage's best weights in
`<output>/<stage>_best`, starts the next stage from them, and checks the stage's `QualityGate` at its end (a failed
gate stops training and `run_distillation` raises `GateFailure`).

Checkpoints are the Trainer's own `checkpoint-N` folders plus the curriculum state; a marker written last tells
complete checkpoints from ones a kill interrupted, and `--resume` continues from the newest complete one.
"""

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from ..file_utils import atomic_path
from ..modules.modeling_renderer import UrukRendererOutput
from ..processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipCollator
from .evaluation import evaluate_renderer
from .lifecycle import GateFailure, QualityGate
from .losses import distillation_loss, renderer_loss
from .stage import (
    StageProgress,
    StageSettings,
    TrainingDivergedError,
    group_learning_rate,
    optimizer_parameter_groups,
    save_best_model,
    scheduled_learning_rate,
    selection_score,
)
from .unroll import unroll_clip

__all__ = [
    "CurriculumStage",
    "DistillationWeights",
    "UrukCurriculumCallback",
    "UrukDistillationTrainer",
    "inherit_material_head",
    "latest_complete_checkpoint",
    "run_distillation",
]

_PROGRESS_FILE = "uruk_curriculum.json"
_COMPLETE_MARKER = "checkpoint_complete.json"


@dataclass(frozen=True)
class DistillationWeights:
    """Weights of the teacher terms of the student loss.

    Attributes:
        teacher_frame (`float`): teacher-bounded L1 to the teacher's frame (`losses.teacher_bounded_l1`).
        material_kl (`float`): KL divergence to the teacher's material distribution on labelled pixels.
        temperature (`float`): softmax temperature of the KL term (the term is scaled by its square).
    """

    teacher_frame: float = 1.0
    material_kl: float = 0.0
    temperature: float = 2.0


@dataclass(frozen=True)
class CurriculumStage:
    """One stage of a curriculum.

    Attributes:
        settings (`StageSettings`): name, ground-truth loss weights, learning rate, budgets and plateau rules.
            Batch size, warm-up, evaluation interval and seed of the run come from the first stage.
        distillation (`DistillationWeights`): teacher terms (ignored without a teacher).
        gate (`QualityGate`, *optional*): checked on the stage's best validation metrics when the stage ends.
    """

    settings: StageSettings
    distillation: DistillationWeights = field(default_factory=DistillationWeights)
    gate: QualityGate | None = None


class UrukCurriculumCallback(TrainerCallback):
    """Drives a curriculum from the Trainer's evaluations (see the module docstring).

    Args:
        stages: the curriculum, in order.
        output_dir: where each stage's best weights go (`<name>_best`).
        baselines: baseline metrics on the validation frames, keyed by name, for the stages' gates (`"previous"`,
            the previous stage's best metrics, is added).
    """

    def __init__(self, stages: list[CurriculumStage], output_dir: str | Path, baselines: dict | None = None):
        self.stages, self.output_dir, self.baselines = stages, Path(output_dir), baselines or {}
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
        lr_scheduler.base_lrs = [group_learning_rate(group, rate, settings) for group in optimizer.param_groups]

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
        score = selection_score(metrics, stage.settings)
        elapsed = time.perf_counter() - self._clock
        learning_rate = lr_scheduler.get_last_lr()[0] if lr_scheduler is not None else stage.settings.learning_rate
        self.progress.step = state.global_step - self.stage_start_step
        self.progress.history.append(
            {"step": state.global_step, "seconds": elapsed, "lr": learning_rate, "score": score, **metrics}
        )
        improved, decision = self.progress.observe(score, stage.settings, elapsed)
        if improved and state.is_world_process_zero:
            save_best_model(model, self.output_dir / f"{stage.settings.name}_best", optimizer)
        if decision == "lr_drop":  # `progress.drops` went up: the next step runs at the lower rate
            decision = None
        if decision is None and self.progress.step >= stage.settings.max_steps:
            decision = "max_steps"
        if decision is not None:
            self.end_stage(decision, state, control, model)
        return control

    def end_stage(self, decision: str, state, control, model) -> None:
        """Closes the current stage (`decision` says why): records it, checks its gate, and either stops training
        (last stage or a failed gate) or starts the next stage from this stage's best weights."""
        stage = self.current
        best_folder = self.output_dir / f"{stage.settings.name}_best"
        best = max(self.progress.history, key=lambda entry: entry["score"])
        record = {
            "stage": stage.settings.name,
            "settings": asdict(stage.settings),
            "distillation": asdict(stage.distillation),
            "stop_reason": decision,
            "steps": self.progress.step,
            "lr_drops": self.progress.drops,
            "seconds": self.progress.elapsed,
            "best_step": best["step"],
            "best": best,
            "history": self.progress.history,
            "best_folder": str(best_folder),
        }
        if stage.gate is not None:
            previous = {"previous": self.records[-1]["best"]} if self.records else {}
            try:
                record["gate"] = stage.gate.check(best, {**self.baselines, **previous})
            except GateFailure as failure:
                record["gate"] = failure.result
                self.gate_failure = failure.result
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
        teacher: the frozen teacher (`None`: train the student from scratch on the ground-truth terms only).
        processor: the `UrukGBufferProcessor` of the student's layout (the teacher must share it).
        curriculum: the `UrukCurriculumCallback` driving stages and loss terms (added to the callbacks).
        All other arguments are `Trainer`'s; pass `data_collator=UrukClipCollator(processor)` and
        `TrainingArguments(remove_unused_columns=False, ...)` (see `distillation_arguments`).
    """

    def __init__(self, *args, teacher=None, processor: UrukGBufferProcessor, curriculum: UrukCurriculumCallback, **kw):
        super().__init__(*args, **kw)
        if teacher is not None:
            if teacher.config.input_buffers != self.model.config.input_buffers:
                raise ValueError("Teacher and student must read the same input layout to share batches.")
            teacher.requires_grad_(False).eval().to(self.args.device)
        self.teacher, self.processor, self.curriculum = teacher, processor, curriculum
        self._teacher_outputs: dict[int, list[tuple[torch.Tensor, torch.Tensor | None]]] = {}
        self.add_callback(curriculum)

    def create_optimizer(self):
        """AdamW over `optimizer_parameter_groups` (the material head in its own group, see
        `StageSettings.material_head_lr_scale`) with the arguments' rate and weight decay."""
        if self.optimizer is None:
            self.optimizer = torch.optim.AdamW(
                optimizer_parameter_groups(self.model),
                lr=self.args.learning_rate,
                weight_decay=self.args.weight_decay,
            )
        return self.optimizer

    def teacher_outputs(self, inputs: dict) -> list:
        """The teacher's outputs on the batch's clips, frame by frame (`frame`, `material_logits`).

        The teacher is frozen and its inputs (its own history included) do not depend on the student, so each
        clip's unroll is computed once and kept: after the first epoch a distillation step costs what a student
        step costs. Clips without an index (`clip_index` -1) are computed every time."""
        indices = inputs["clip_index"].tolist()
        computed = {}
        missing = [row for row, index in enumerate(indices) if index < 0 or index not in self._teacher_outputs]
        if missing:
            rows = torch.tensor(missing, device=inputs["pixel_values"].device)
            subset = {key: value.index_select(0, rows) for key, value in inputs.items() if torch.is_tensor(value)}
            with torch.no_grad():
                outputs = unroll_clip(self.teacher, subset, self.processor)
            for position, row in enumerate(missing):
                computed[row] = [
                    (
                        output.frame[position].detach(),
                        None if output.material_logits is None else output.material_logits[position].detach(),
                    )
                    for output in outputs
                ]
                if indices[row] >= 0:
                    self._teacher_outputs[indices[row]] = computed[row]
        clips = [computed.get(row) or self._teacher_outputs[index] for row, index in enumerate(indices)]
        frames = []
        for k in range(len(clips[0])):
            logits = [clip[k][1] for clip in clips]
            frames.append(
                UrukRendererOutput(
                    frame=torch.stack([clip[k][0] for clip in clips]),
                    material_logits=None if logits[0] is None else torch.stack(logits),
                )
            )
        return frames

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        stage = self.curriculum.current
        student = unroll_clip(model, inputs, self.processor, config=self.model.config)
        terms = stage.distillation
        if self.teacher is not None and (terms.teacher_frame or terms.material_kl):
            teacher = self.teacher_outputs(inputs)
            loss = distillation_loss(
                student,
                teacher,
                inputs,
                stage.settings.weights,
                teacher_weight=terms.teacher_frame,
                temperature=terms.temperature,
                kl_weight=terms.material_kl,
            )
        else:
            loss = renderer_loss(student, inputs, stage.settings.weights)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"{stage.settings.name}: loss is {loss.item()} at step {self.state.global_step + 1}."
            )
        return (loss, student) if return_outputs else loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """The project's validation metrics (`evaluate_renderer`), logged and passed to the callbacks."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        metrics = evaluate_renderer(self.model, dataset, self.processor, flip=False)
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
        with atomic_path(folder / _COMPLETE_MARKER) as temporary:
            temporary.write_text(json.dumps({"step": self.state.global_step, "time": time.time()}))

    def train(self, resume_from_checkpoint: str | Path | None = None, **kwargs):
        """`Trainer.train`; when resuming, the curriculum state saved with the checkpoint is restored first."""
        if resume_from_checkpoint is not None:
            self.curriculum.load_state_dict(json.loads((Path(resume_from_checkpoint) / _PROGRESS_FILE).read_text()))
            resume_from_checkpoint = str(resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)


def inherit_material_head(student, teacher) -> bool:
    """Copies the teacher's material head into the student when both have one of the same shapes; returns whether
    it did.

    The V2 material head reads the input buffers, not the trunk (`uruk_hf.modules.heads.UrukMaterialHead`), so a
    teacher's head is a drop-in part of its student (the same width at the quick and full presets): copying it hands
    the student everything the teacher learned about materials, and the curriculum's material stage then fine-tunes
    it on the labels and the teacher's distribution. Measured at the quick preset: a student whose head started from
    scratch under the teacher's distribution ended below both the teacher and a from-scratch student."""
    student_head, teacher_head = getattr(student, "material_head", None), getattr(teacher, "material_head", None)
    if student_head is None or teacher_head is None:
        return False
    teacher_state = teacher_head.state_dict()
    student_state = student_head.state_dict()
    if teacher_state.keys() != student_state.keys() or any(
        teacher_state[name].shape != student_state[name].shape for name in student_state
    ):
        return False
    student_head.load_state_dict(teacher_state)
    return True


def latest_complete_checkpoint(folder: str | Path) -> Path | None:
    """The newest `checkpoint-N` under `folder` whose save finished (its marker exists); interrupted ones are
    deleted so that they can never load."""
    folder = Path(folder)
    complete = []
    for candidate in folder.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", candidate.name)
        if not match or not candidate.is_dir():
            continue
        if (candidate / _COMPLETE_MARKER).is_file():
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
    processor: UrukGBufferProcessor,
    train_dataset,
    validation_dataset,
    stages: list[CurriculumStage],
    output_dir: str | Path,
    baselines: dict | None = None,
    resume: bool = False,
    material_head_from_teacher: bool = True,
    **argument_overrides,
) -> dict:
    """Trains `student` along `stages` (from `teacher`, or from scratch when it is `None`), saves its last weights
    to `output_dir/final`, loads the global best weights (best selection score over the stages) into it and returns
    the record, also written to `output_dir/record.json`. With `material_head_from_teacher` the student starts from
    the teacher's material head where the shapes allow (`inherit_material_head`; the record says whether it did).

    Raises:
        GateFailure: a stage's gate failed (the record is written first, with the failing gate).
        TrainingDivergedError: the loss became NaN or Inf.
    """
    output_dir = Path(output_dir)
    started = time.perf_counter()
    inherited = teacher is not None and material_head_from_teacher and inherit_material_head(student, teacher)
    curriculum = UrukCurriculumCallback(stages, output_dir, baselines)
    trainer = UrukDistillationTrainer(
        model=student,
        teacher=teacher,
        processor=processor,
        curriculum=curriculum,
        args=distillation_arguments(stages, output_dir / "checkpoints", **argument_overrides),
        train_dataset=train_dataset,
        eval_dataset=validation_dataset,
        data_collator=UrukClipCollator(processor),
        processing_class=processor,
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
        "material_head_from_teacher": inherited,
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
