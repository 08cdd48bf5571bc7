"""One training stage under Accelerate: the loop every family's Production (and curriculum) stage runs.

It evaluates on the validation split every `eval_every` steps, keeps the best weights, detects plateaus (no
improvement for `patience` evaluations: lower the learning rate, and after `max_lr_drops` drops stop), honours a
wall-clock budget, refuses NaN/Inf losses and a gradient that stays exactly zero, and checkpoints with
`accelerator.save_state` so that an interrupted run resumes where it stopped. Checkpoints are written to a temporary
folder and renamed into place, so a half-written checkpoint never loads. A stage returns (and writes) a JSON record
of its settings and measurements.
"""

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..file_utils import atomic_path
from ..processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipCollator
from .evaluation import evaluate_renderer
from .losses import LossWeights, renderer_loss
from .unroll import unroll_clip

__all__ = [
    "DEAD_GRADIENT_STEPS",
    "StageProgress",
    "StageSettings",
    "TrainingDivergedError",
    "annealing_factor",
    "group_learning_rate",
    "optimizer_parameter_groups",
    "save_best_model",
    "save_final_model",
    "save_trained_model",
    "scheduled_learning_rate",
    "selection_score",
    "train_stage",
]

_COMPLETE_MARKER = "checkpoint_complete.json"


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or Inf, or the gradient stayed exactly zero (a saturated network)."""


DEAD_GRADIENT_STEPS = 25
"""Consecutive optimizer steps with an exactly zero gradient after which a stage stops as diverged. A network whose
activations exploded saturates its heads (softmax, softplus) so that every gradient underflows to 0; it then never
changes again, and training on would spend the whole budget on a frozen model."""


@dataclass
class StageSettings:
    """Settings of one training stage.

    Attributes:
        name (`str`): stage name, used for folders and records (`production`, `stage1`, ...).
        learning_rate (`float`): peak AdamW learning rate.
        warmup_steps (`int`): steps of linear warm-up from 0 (Adam's first sign-like steps on an identity-initialized
            renderer otherwise overshoot).
        batch_size (`int`): clips per step (per process).
        max_steps (`int`): optimizer steps at most.
        eval_every (`int`): steps between validation evaluations.
        patience (`int`): evaluations without improvement that make a plateau.
        max_lr_drops (`int`): plateaus that lower the learning rate; the next plateau stops the stage.
        lr_drop_factor (`float`): learning-rate multiplier at a plateau.
        time_budget_s (`float | None`): wall-clock budget of the stage; once spent, the stage evaluates and stops.
        material_head_lr_scale (`float`): multiplier of the learning rate of the material head's parameters: a small
            classifier of per-surface statistics that learns well at rates that would upset the trunk (default 2).
        cosine_annealing (`bool`): multiply the learning rate by `0.5 * (1 + cos(pi * f))`, `f` the fraction of the
            stage's budget used (the larger of steps over `max_steps` and seconds over `time_budget_s`): a short
            stage then ends at a low rate instead of being cut off at its peak (default on).
        weights (`LossWeights`): loss terms.
        selection_metric (`str`): validation metric that defines "best" (higher is better).
        material_selection_weight (`float`): added to the selection score per unit of material mean IoU, so that a
            stage training both heads keeps the checkpoint that is best at both (10: ten mIoU points weigh as much
            as 1 dB of PSNR).
        weight_decay (`float`): AdamW weight decay.
        seed (`int`): seed of shuffling and initialization.
    """

    name: str
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    batch_size: int = 4
    max_steps: int = 2000
    eval_every: int = 50
    patience: int = 3
    max_lr_drops: int = 2
    lr_drop_factor: float = 0.3
    time_budget_s: float | None = None
    cosine_annealing: bool = True
    material_head_lr_scale: float = 2.0
    weights: LossWeights = field(default_factory=LossWeights)
    selection_metric: str = "psnr"
    material_selection_weight: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0


def annealing_factor(settings: StageSettings, step: int, elapsed: float) -> float:
    """The learning-rate multiplier of `settings.cosine_annealing` after `step` steps and `elapsed` seconds (1 when
    annealing is off)."""
    if not settings.cosine_annealing:
        return 1.0
    used = step / settings.max_steps
    if settings.time_budget_s:
        used = max(used, elapsed / settings.time_budget_s)
    return 0.5 * (1.0 + math.cos(math.pi * min(used, 1.0)))


def optimizer_parameter_groups(model) -> list[dict]:
    """AdamW parameter groups of a renderer: the trunk and frame head, then the material head (if any), each group
    tagged with `material_head` so that `group_learning_rate` can scale its rate."""
    head = getattr(model, "material_head", None)
    head_ids = {id(parameter) for parameter in head.parameters()} if head is not None else set()
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in head_ids], "material_head": False},
        {"params": [p for p in model.parameters() if id(p) in head_ids], "material_head": True},
    ]
    return [group for group in groups if group["params"]]


def scheduled_learning_rate(settings: StageSettings, drops: int, step: int, elapsed: float) -> float:
    """The rate of a stage's step `step` (counted from the stage's start) after `elapsed` seconds and `drops`
    plateau drops: `learning_rate`, lowered by the drops, times the linear warm-up and the annealing factor. Both
    training loops (the Accelerate stage loop and the curriculum callback of the Trainer) set their rates from it."""
    rate = settings.learning_rate * settings.lr_drop_factor**drops
    return rate * min(1.0, (step + 1) / max(settings.warmup_steps, 1)) * annealing_factor(settings, step, elapsed)


def group_learning_rate(group: dict, rate: float, settings: StageSettings) -> float:
    """The learning rate of parameter group `group` when the stage runs at `rate`."""
    return rate * settings.material_head_lr_scale if group.get("material_head") else rate


def selection_score(metrics: dict, settings: StageSettings) -> float:
    """The score that defines the best checkpoint of a stage: `selection_metric`, plus
    `material_selection_weight` times the material mean IoU where the model predicts materials."""
    return float(metrics[settings.selection_metric]) + settings.material_selection_weight * float(
        metrics.get("material_miou", 0.0)
    )


class StageProgress:
    """The decisions of a stage from its validation scores, shared by the Accelerate loop and the distillation
    Trainer's curriculum callback: best score, evaluations without improvement, learning-rate drops, time used.
    Its `state_dict` is saved with every checkpoint, so a resumed stage decides as if it had never stopped."""

    def __init__(self):
        self.step, self.best, self.stale, self.drops, self.elapsed = 0, -math.inf, 0, 0, 0.0
        self.evaluation_seconds = 0.0
        self.zero_gradient_steps = 0
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)

    def observe_gradient(self, norm: float, stage: str, step: int) -> None:
        """Records the gradient norm of optimizer step `step` (counted from 1 within stage `stage`).

        Raises:
            TrainingDivergedError: the norm has been exactly zero for `DEAD_GRADIENT_STEPS` consecutive steps.
        """
        self.zero_gradient_steps = self.zero_gradient_steps + 1 if norm == 0.0 else 0
        if self.zero_gradient_steps >= DEAD_GRADIENT_STEPS:
            raise TrainingDivergedError(
                f"{stage}: the gradient has been exactly zero for {self.zero_gradient_steps} steps (up to step "
                f"{step}): the network is saturated and can no longer train; lower the learning rate or "
                "lengthen the warm-up."
            )

    def observe(self, score: float, settings: StageSettings, elapsed: float) -> tuple[bool, str | None]:
        """Records one validation score after `elapsed` seconds of the stage and returns `(improved, decision)`;
        `decision` is `None`, `"lr_drop"` (a plateau with drops left: multiply the learning rate by
        `settings.lr_drop_factor`), `"plateau"` (a plateau after `max_lr_drops` drops: stop) or `"time_budget"`."""
        self.elapsed = elapsed
        improved = score > self.best
        if improved:
            self.best, self.stale = score, 0
        else:
            self.stale += 1
        decision = None
        if self.stale >= settings.patience:
            if self.drops >= settings.max_lr_drops:
                decision = "plateau"
            else:
                self.drops, self.stale = self.drops + 1, 0
                decision = "lr_drop"
        if decision in (None, "lr_drop") and settings.time_budget_s is not None and elapsed >= settings.time_budget_s:
            decision = "time_budget"
        return improved, decision


def _swap_into_place(temporary: Path, folder: Path) -> None:
    """Replaces `folder` with the fully written `temporary` folder by renames only."""
    previous = folder.with_name(folder.name + ".previous")
    if folder.exists():
        os.replace(folder, previous)
    os.replace(temporary, folder)
    shutil.rmtree(previous, ignore_errors=True)


def _save_checkpoint(accelerator, folder: Path) -> None:
    """`accelerator.save_state` into a temporary folder, then swapped into place; a marker written last tells
    complete checkpoints from interrupted ones."""
    temporary = folder.with_name(folder.name + ".partial")
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    # Every process writes its own random states into the folder: all must be done before it is marked and moved.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (temporary / _COMPLETE_MARKER).write_text(json.dumps({"time": time.time()}))
        _swap_into_place(temporary, folder)
    accelerator.wait_for_everyone()


OPTIMIZER_FILE = "optimizer.pt"


def save_best_model(model, folder: Path, optimizer=None) -> None:
    """`save_pretrained` (and the optimizer's state dict as `optimizer.pt`, when given) into a temporary folder,
    then swapped into place: `folder` is always a whole model."""
    temporary = folder.with_name(folder.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    model.save_pretrained(temporary)
    if optimizer is not None:
        torch.save(optimizer.state_dict(), temporary / OPTIMIZER_FILE)
    _swap_into_place(temporary, folder)


def _latest_whole(folder: Path, marker: str) -> Path | None:
    """`folder`, or its `.previous` twin when a kill fell between the two renames of `_swap_into_place`, whichever
    holds `marker`."""
    for candidate in (folder, folder.with_name(folder.name + ".previous")):
        if (candidate / marker).is_file():
            return candidate
    return None


def train_stage(
    accelerator,
    model,
    processor: UrukGBufferProcessor,
    train_dataset,
    validation_dataset,
    settings: StageSettings,
    output_dir: str | Path,
    resume: bool = False,
    loss_fn: Callable | None = None,
) -> dict:
    """Trains `model` for one stage and returns its record; the best weights are saved (Hub format) to
    `output_dir/best` and loaded back into `model`.

    Args:
        accelerator: an `accelerate.Accelerator` (its trackers receive the losses and validation metrics).
        model: a renderer (`UrukRendererPreTrainedModel`), not yet prepared.
        processor: the model's `UrukGBufferProcessor`.
        train_dataset, validation_dataset: `UrukClipDataset`s.
        settings: the stage settings.
        output_dir: the stage folder (`checkpoint/`, `best/`, `record.json`).
        resume: continue from `output_dir/checkpoint` when a complete one exists.
        loss_fn: `(outputs, batch) -> loss`; defaults to `renderer_loss` with `settings.weights`.

    Raises:
        TrainingDivergedError: the loss became NaN or Inf (the message gives the step).
    """
    output_dir = Path(output_dir)
    config = model.config
    loss_fn = loss_fn or (lambda outputs, batch: renderer_loss(outputs, batch, settings.weights))
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    loader = torch.utils.data.DataLoader(
        train_dataset,
        batch_size=settings.batch_size,
        shuffle=True,
        drop_last=len(train_dataset) >= settings.batch_size,
        collate_fn=UrukClipCollator(processor),
        generator=generator,
    )
    optimizer = torch.optim.AdamW(
        optimizer_parameter_groups(model), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    progress = StageProgress()
    accelerator.register_for_checkpointing(progress)
    checkpoint = output_dir / "checkpoint"
    resumed_from = None
    if resume and (found := _latest_whole(checkpoint, _COMPLETE_MARKER)) is not None:
        accelerator.load_state(str(found))
        resumed_from = progress.step
    started = time.perf_counter() - progress.elapsed
    stop_reason = None

    def evaluate_and_decide() -> str | None:
        evaluation_started = time.perf_counter()
        metrics = None
        if accelerator.is_main_process:
            metrics = evaluate_renderer(
                accelerator.unwrap_model(model), validation_dataset, processor, flip=False, config=config
            )
        metrics = _broadcast(accelerator, metrics)
        score = selection_score(metrics, settings)
        rate = optimizer.param_groups[0]["lr"]
        entry = {"step": progress.step, "seconds": time.perf_counter() - started, "lr": rate, **metrics}
        entry["score"] = score
        progress.history.append(entry)
        accelerator.log(
            {f"{settings.name}/validation_{key}": value for key, value in metrics.items()}, step=progress.step
        )
        improved, decision = progress.observe(score, settings, time.perf_counter() - started)
        if improved and accelerator.is_main_process:
            save_best_model(accelerator.unwrap_model(model), output_dir / "best", optimizer)
        if decision == "lr_drop":  # `progress.drops` went up: the next step runs at the lower rate
            decision = None
        _save_checkpoint(accelerator, checkpoint)
        progress.evaluation_seconds += time.perf_counter() - evaluation_started
        return decision

    bar = tqdm(
        total=settings.max_steps,
        initial=progress.step,
        desc=settings.name,
        disable=not accelerator.is_local_main_process,
        dynamic_ncols=True,
    )
    model.train()
    while progress.step < settings.max_steps and stop_reason is None:
        for batch in loader:
            outputs = unroll_clip(model, batch, processor, config=config)
            loss = loss_fn(outputs, batch)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(f"{settings.name}: loss is {loss.item()} at step {progress.step + 1}.")
            accelerator.backward(loss)
            norm = float(accelerator.clip_grad_norm_(model.parameters(), 1.0))
            progress.observe_gradient(norm, settings.name, progress.step + 1)
            rate = scheduled_learning_rate(settings, progress.drops, progress.step, time.perf_counter() - started)
            for group in optimizer.param_groups:
                group["lr"] = group_learning_rate(group, rate, settings)
            optimizer.step()
            optimizer.zero_grad()
            progress.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", best=f"{progress.best:.2f}")
            accelerator.log(
                {f"{settings.name}/train_loss": loss.item(), f"{settings.name}/lr": rate}, step=progress.step
            )
            # A spent time budget is evaluated at once (its annealed rate has reached 0), not at the next interval.
            out_of_time = settings.time_budget_s is not None and (
                time.perf_counter() - started >= settings.time_budget_s
            )
            if progress.step % settings.eval_every == 0 or progress.step >= settings.max_steps or out_of_time:
                stop_reason = evaluate_and_decide()
            if stop_reason is not None or progress.step >= settings.max_steps:
                break
    bar.close()
    stop_reason = stop_reason or "max_steps"
    if not progress.history or progress.history[-1]["step"] != progress.step:
        evaluate_and_decide()
    accelerator.wait_for_everyone()
    best = type(accelerator.unwrap_model(model)).from_pretrained(_latest_whole(output_dir / "best", "config.json"))
    accelerator.unwrap_model(model).load_state_dict(best.state_dict())
    best_entry = max(progress.history, key=lambda entry: entry["score"])
    record = {
        "stage": settings.name,
        "settings": asdict(settings),
        "stop_reason": stop_reason,
        "steps": progress.step,
        "lr_drops": progress.drops,
        "resumed_from_step": resumed_from,
        "seconds": time.perf_counter() - started,
        "evaluation_seconds": progress.evaluation_seconds,  # validation, best weights and checkpoints
        "best_step": best_entry["step"],
        "best": best_entry,
        "history": progress.history,
        "processes": accelerator.num_processes,
    }
    if accelerator.is_main_process:
        with atomic_path(output_dir / "record.json") as temporary:
            temporary.write_text(json.dumps(record, indent=2))
    return record


def save_trained_model(model, processor: UrukGBufferProcessor, record: dict, folder: str | Path) -> None:
    """Saves a trained model in Hub format (config.json, model.safetensors), its `preprocessor_config.json` and
    the record of its training (`training_record.json`) to `folder`."""
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    with atomic_path(folder / "training_record.json") as temporary:
        temporary.write_text(json.dumps(record, indent=2, default=str))


def save_final_model(accelerator, model, processor: UrukGBufferProcessor, record: dict, folder: str | Path) -> None:
    """`save_trained_model` of the unwrapped model, on the main process only."""
    if accelerator.is_main_process:
        save_trained_model(accelerator.unwrap_model(model), processor, record, folder)


def _broadcast(accelerator, value):
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]
