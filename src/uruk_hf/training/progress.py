"""What every training stage shares, whichever loop runs it (the Accelerate stage loop or the distillation
Trainer's curriculum callback): its settings, its learning-rate schedule, and one path from a validation
evaluation to a decision and a record: evaluate -> keep the best weights -> plateau / time budget -> gate ->
record (`StageProgress`).
"""

import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .gates import QualityGate

__all__ = [
    "DEAD_GRADIENT_STEPS",
    "OPTIMIZER_FILE",
    "HeadSelection",
    "StageProgress",
    "StageSettings",
    "TrainingDivergedError",
    "annealing_factor",
    "group_learning_rate",
    "save_best_model",
    "scheduled_learning_rate",
    "swap_into_place",
]


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or Inf, or the gradient stayed exactly zero (a saturated network)."""


DEAD_GRADIENT_STEPS = 25
"""Consecutive optimizer steps with an exactly zero gradient after which a stage stops as diverged. A network whose
activations exploded saturates its heads (softmax, softplus) so that every gradient underflows to 0; it then never
changes again, and training on would spend the whole budget on a frozen model."""

OPTIMIZER_FILE = "optimizer.pt"
"""The optimizer's state dict saved beside a stage's best weights (the seed's stage checkpoints carry it)."""


@dataclass
class StageSettings:
    """Settings of one training stage.

    Attributes:
        name (`str`): stage name, used for folders and records (`production`, `stage1`, ...).
        learning_rate (`float`): peak AdamW learning rate.
        warmup_steps (`int`): steps of linear warm-up from 0 (Adam's first sign-like steps on an identity-initialized
            renderer otherwise overshoot).
        batch_size (`int`): items (clips) per step (per process).
        max_steps (`int`): optimizer steps at most.
        eval_every (`int`): steps between validation evaluations.
        patience (`int`): evaluations without improvement that make a plateau.
        max_lr_drops (`int`): plateaus that lower the learning rate; the next plateau stops the stage.
        lr_drop_factor (`float`): learning-rate multiplier at a plateau.
        time_budget_s (`float | None`): wall-clock budget of the stage; once spent, the stage evaluates and stops.
        cosine_annealing (`bool`): multiply the learning rate by `0.5 * (1 + cos(pi * f))`, `f` the fraction of the
            stage's budget used (the larger of steps over `max_steps` and seconds over `time_budget_s`): a short
            stage then ends at a low rate instead of being cut off at its peak (default on).
        weights (*optional*): the task's loss-term weights (`Task.loss_weights_class`; `None`: its defaults). The
            task's `selection_score` reads them too (a stage training materials weighs them in its selection).
        weight_decay (`float`): AdamW weight decay.
        seed (`int`): seed of shuffling and initialization.
        ema_max_decay (`float | None`): keep an exponential moving average of the weights whose decay warms up to
            this value (`averaging.WeightAverage`); validation, the best weights and the stage's result are then the
            averaged weights. `None`: no average. The Accelerate stage loop only.
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
    weights: Any = None
    weight_decay: float = 0.0
    seed: int = 0
    ema_max_decay: float | None = None


def stage_weights(settings: StageSettings, task):
    """The stage's loss-term weights: its own, or the task's defaults."""
    if settings.weights is not None:
        return settings.weights
    return task.loss_weights_class() if task.loss_weights_class is not None else None


def annealing_factor(settings: StageSettings, step: int, elapsed: float) -> float:
    """The learning-rate multiplier of `settings.cosine_annealing` after `step` steps and `elapsed` seconds (1 when
    annealing is off)."""
    if not settings.cosine_annealing:
        return 1.0
    used = step / settings.max_steps
    if settings.time_budget_s:
        used = max(used, elapsed / settings.time_budget_s)
    return 0.5 * (1.0 + math.cos(math.pi * min(used, 1.0)))


def scheduled_learning_rate(settings: StageSettings, drops: int, step: int, elapsed: float) -> float:
    """The rate of a stage's step `step` (counted from the stage's start) after `elapsed` seconds and `drops`
    plateau drops: `learning_rate`, lowered by the drops, times the linear warm-up and the annealing factor. Both
    training loops set their rates from it."""
    rate = settings.learning_rate * settings.lr_drop_factor**drops
    return rate * min(1.0, (step + 1) / max(settings.warmup_steps, 1)) * annealing_factor(settings, step, elapsed)


def group_learning_rate(group: dict, rate: float) -> float:
    """The learning rate of parameter group `group` (its `lr_scale`, see `Task.parameter_groups`) at `rate`."""
    return rate * group.get("lr_scale", 1.0)


def swap_into_place(temporary: Path, folder: Path) -> None:
    """Replaces `folder` with the fully written `temporary` folder by renames only.

    The old `folder` is renamed to `<folder>.previous` first and removed once `temporary` is in place, so a kill at
    any point leaves one whole folder: `folder`, or `.previous` alone when the kill fell between the two renames.
    `folder` only ever appears by the rename of a whole folder, so a `.previous` found beside it is a leftover of a
    kill during the last removal and is removed before the rename that needs its name."""
    previous = folder.with_name(folder.name + ".previous")
    if folder.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(folder, previous)
    os.replace(temporary, folder)
    shutil.rmtree(previous, ignore_errors=True)


class HeadSelection:
    """Picks the checkpoint of heads that a stage selects on their own metrics (`Task.separate_heads`): the
    weights of each head at its best validation metric are kept in `folder/best_<head>.safetensors`, and
    `compose_into` puts them into the model holding the stage's best weights for everything else.

    Args:
        model: the (unwrapped) model.
        task: its `Task` (which heads are separate, and the selection score).
        weights: the stage's loss-term weights.
        folder: where the heads' best weights are kept.
    """

    def __init__(self, model, task, weights, folder: Path):
        self.model, self.task, self.weights, self.folder = model, task, weights, Path(folder)
        self.heads: dict[str, tuple[str, ...]] = task.separate_heads(model, weights)

    def path(self, head: str) -> Path:
        return self.folder / f"best_{head}.safetensors"

    def score(self, metrics: dict) -> float:
        """The selection score of the rest of the model: the task's score without the separate heads' metrics."""
        separate = {key for keys in self.heads.values() for key in keys}
        return self.task.selection_score({k: v for k, v in metrics.items() if k not in separate}, self.weights)

    def full_score(self, metrics: dict) -> float:
        """The task's selection score of every metric (the composed model's score)."""
        return self.task.selection_score(metrics, self.weights)

    def save(self, head: str) -> None:
        """Writes the current weights of `head` atomically."""
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        state = {
            name: value.detach().contiguous().cpu() for name, value in getattr(self.model, head).state_dict().items()
        }
        temporary = self.path(head).with_suffix(".partial")
        save_file(state, str(temporary))
        os.replace(temporary, self.path(head))

    def compose_into(self, model, best_folder: Path, save: bool) -> list[str]:
        """Loads every head's best weights into `model` (which holds the weights of `best_folder`) and, when
        `save` and some head was loaded, writes the composed model back into `best_folder` by a swap, keeping the
        optimizer state saved there. Returns the heads it loaded."""
        from safetensors.torch import load_file

        loaded = []
        for head in self.heads:
            if self.path(head).exists():
                getattr(model, head).load_state_dict(load_file(str(self.path(head))))
                loaded.append(head)
        if loaded and save:
            temporary = best_folder.with_name(best_folder.name + ".partial")
            shutil.rmtree(temporary, ignore_errors=True)
            model.save_pretrained(temporary)
            if (best_folder / OPTIMIZER_FILE).exists():
                shutil.copy2(best_folder / OPTIMIZER_FILE, temporary / OPTIMIZER_FILE)
            swap_into_place(temporary, best_folder)
        return loaded


def save_best_model(model, folder: Path, optimizer=None) -> None:
    """`save_pretrained` (and the optimizer's state dict as `optimizer.pt`, when given) into a temporary folder,
    then swapped into place: `folder` is always a whole model."""
    temporary = folder.with_name(folder.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    model.save_pretrained(temporary)
    if optimizer is not None:
        torch.save(optimizer.state_dict(), temporary / OPTIMIZER_FILE)
    swap_into_place(temporary, folder)


class StageProgress:
    """The decisions of a stage from its validation scores: best score, evaluations without improvement,
    learning-rate drops, time used, and the history of evaluations. Its `state_dict` is saved with every
    checkpoint, so a resumed stage decides as if it had never stopped.

    `evaluated` and `close` are the one path every loop takes from an evaluation to a decision and from a finished
    stage to its record."""

    def __init__(self):
        self.step, self.best, self.stale, self.drops, self.elapsed = 0, -math.inf, 0, 0, 0.0
        self.evaluation_seconds = 0.0
        self.zero_gradient_steps = 0
        self.history: list[dict] = []
        self.head_best: dict[str, dict] = {}  # separately picked head -> its best evaluation's step and metrics
        self.epoch, self.epoch_batches = 0, 0  # position in the data: epoch, and batches of that epoch done
        self.stop_reason: str | None = None  # the last evaluation's decision to stop, if any

    def state_dict(self) -> dict:
        """Everything above as plain JSON-able data (saved in `progress.json` of every checkpoint)."""
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

    def evaluated(
        self,
        metrics: dict,
        score: float,
        settings: StageSettings,
        step: int,
        seconds: float,
        learning_rate: float,
        save_best,
        heads: "HeadSelection | None" = None,
    ) -> str | None:
        """Records a validation evaluation at `step` (`score` from the task's `selection_score`), calls
        `save_best()` when it is the best so far, and returns the stage's decision: `None` (go on; a plateau with
        drops left has lowered the rate), `"plateau"` or `"time_budget"` (stop).

        With `heads`, `score` must leave out their metrics (it decides the rest of the model), and each head's
        weights are saved whenever its own selection metric is the best so far (`heads` is `None` on processes
        that do not save)."""
        self.history.append({"step": step, "seconds": seconds, "lr": learning_rate, **metrics, "score": score})
        improved, decision = self.observe(score, settings, seconds)
        if improved and save_best is not None:
            save_best()
        for head, keys in (heads.heads if heads is not None else {}).items():
            value = metrics.get(keys[0])
            if value is not None and value > self.head_best.get(head, {}).get(keys[0], -math.inf):
                self.head_best[head] = {"step": step, **{key: metrics[key] for key in keys if key in metrics}}
                heads.save(head)
        return None if decision == "lr_drop" else decision

    def close(
        self,
        settings: StageSettings,
        stop_reason: str,
        best_folder: Path,
        gate: QualityGate | None = None,
        baselines: dict | None = None,
        previous: dict | None = None,
        rescore=None,
        **extra,
    ) -> dict:
        """The record of the finished stage: settings, why it stopped, steps, its best evaluation and where its
        weights lie, the history, and the gate's verdict on the best evaluation against `baselines` (plus
        `"previous"`, the previous stage's best metrics, when given). A failed gate is recorded, not raised: the
        caller decides what stops.

        Where heads were picked on their own (`head_best`), `best` is the composed model's evaluation: the best
        entry's metrics with each head's metrics from its own best entry, scored again by `rescore(metrics)`
        (the task's full selection score); `head_best` records which steps they came from."""
        best = dict(max(self.history, key=lambda entry: entry["score"]))
        if self.head_best:
            for chosen in self.head_best.values():
                best.update({key: value for key, value in chosen.items() if key != "step"})
            if rescore is not None:
                best["score"] = rescore(best)
        record = {
            "stage": settings.name,
            "settings": asdict(settings),
            "stop_reason": stop_reason,
            "steps": self.step,
            "lr_drops": self.drops,
            "seconds": self.elapsed,
            "best_step": best["step"],
            "best": best,
            "history": self.history,
            "best_folder": str(best_folder),
            **({"head_best": self.head_best} if self.head_best else {}),
            **extra,
        }
        if gate is not None:
            references = {**(baselines or {}), **({"previous": previous} if previous is not None else {})}
            record["gate"] = gate.measure(best, references)
        return record
