"""One training stage under Accelerate: the loop every family's Production (and curriculum) stage runs.

It evaluates on the validation split every `eval_every` steps, keeps the best weights, detects plateaus (no
improvement for `patience` evaluations: lower the learning rate, and after `max_lr_drops` drops stop), honours a
wall-clock budget, keeps a moving average of the weights when its settings ask (`ema_max_decay`: the average is then
what it validates, selects and returns), refuses NaN/Inf losses and a gradient that stays exactly zero, and
checkpoints after every evaluation so that an interrupted run resumes where it stopped (`training.checkpoint`: no
pickle is ever read unsafely, and a resumed stage with a step budget equals an uninterrupted one: weights, optimizer,
weight average, every random state and the position in the data are restored). Checkpoints are written to a
temporary folder and renamed into place, so a half-written checkpoint never loads. What the model is, how a batch is
built and scored, and what validation measures come from the stage's `Task`. A stage returns (and writes) a JSON record
of its settings and measurements (`StageProgress.close`).
"""

import json
import shutil
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..file_utils import atomic_path
from .averaging import WeightAverage
from .checkpoint import CHECKPOINT_MARKER, load_stage_checkpoint, save_stage_checkpoint, write_checkpoint_marker
from .data import EpochShuffleSampler
from .progress import (
    HeadSelection,
    StageProgress,
    StageSettings,
    TrainingDivergedError,
    group_learning_rate,
    save_best_model,
    scheduled_learning_rate,
    stage_weights,
    swap_into_place,
)

__all__ = ["latest_whole", "save_final_model", "save_trained_model", "train_stage"]


def _save_checkpoint(stage: "_AccelerateStage") -> None:
    """The stage's checkpoint (`save_stage_checkpoint`) into a temporary folder, then swapped into place; the
    marker written last (with every file's size and hash) tells complete checkpoints from interrupted ones."""
    accelerator, folder = stage.accelerator, stage.checkpoint
    temporary = folder.with_name(folder.name + ".partial")
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    save_stage_checkpoint(
        temporary, accelerator, stage.model, stage.optimizer, stage.task, stage.progress.state_dict(), stage.average
    )
    # Every process writes its own random states into the folder: all must be done before it is marked and moved.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_checkpoint_marker(temporary, step=stage.progress.step, processes=accelerator.num_processes)
        swap_into_place(temporary, folder)
    accelerator.wait_for_everyone()


def latest_whole(folder: Path, marker: str) -> Path | None:
    """`folder`, or its `.previous` twin when a kill fell between the two renames of `swap_into_place`, whichever
    holds `marker`."""
    for candidate in (folder, folder.with_name(folder.name + ".previous")):
        if (candidate / marker).is_file():
            return candidate
    return None


def _broadcast(accelerator, value):
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]


class _AccelerateStage:
    """The state of one stage on the Accelerate loop: prepared model, optimizer and loader, and its progress."""

    def __init__(self, accelerator, model, task, train_dataset, validation_dataset, settings, output_dir, resume):
        self.accelerator, self.task, self.settings = accelerator, task, settings
        self.validation_dataset, self.output_dir = validation_dataset, Path(output_dir)
        self.weights = stage_weights(settings, task)
        torch.manual_seed(settings.seed)
        self.sampler = EpochShuffleSampler(len(train_dataset), settings.seed)
        loader = torch.utils.data.DataLoader(
            train_dataset,
            batch_size=settings.batch_size,
            sampler=self.sampler,
            drop_last=len(train_dataset) >= settings.batch_size,
            collate_fn=task.collate,
            generator=torch.Generator().manual_seed(settings.seed),  # worker seeds, never the global generator
        )
        optimizer = torch.optim.AdamW(
            task.parameter_groups(model), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        self.model, self.optimizer, self.loader = accelerator.prepare(model, optimizer, loader)
        self.average = None
        if settings.ema_max_decay is not None:
            self.average = WeightAverage(accelerator.unwrap_model(self.model), settings.ema_max_decay)
        self.progress = StageProgress()
        self.heads = HeadSelection(model, task, self.weights, self.output_dir)
        self.checkpoint = self.output_dir / "checkpoint"
        self.resumed_from = None
        if resume and (found := latest_whole(self.checkpoint, CHECKPOINT_MARKER)) is not None:
            state = load_stage_checkpoint(found, accelerator, self.model, self.optimizer, task, self.average)
            self.progress.load_state_dict(state)
            self.resumed_from = self.progress.step
        self.started = time.perf_counter() - self.progress.elapsed

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def train_step(self, batch: dict) -> float:
        """One optimizer step on `batch` (then the task's auxiliary step on the same outputs); returns the loss."""
        settings, progress = self.settings, self.progress
        outputs = self.task.forward(self.model, batch)
        loss = self.task.loss(outputs, batch, self.weights)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"{settings.name}: loss is {loss.item()} at step {progress.step + 1}.")
        self.accelerator.backward(loss)
        norm = float(self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0))
        progress.observe_gradient(norm, settings.name, progress.step + 1)
        rate = scheduled_learning_rate(settings, progress.drops, progress.step, self.elapsed())
        for group in self.optimizer.param_groups:
            group["lr"] = group_learning_rate(group, rate)
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.average is not None:
            self.average.update(self.accelerator.unwrap_model(self.model))
        auxiliary = self.task.auxiliary_step(outputs, batch, self.weights)
        progress.step += 1
        logged = {"train_loss": loss.item(), "lr": rate, **auxiliary}
        self.accelerator.log({f"{settings.name}/{key}": value for key, value in logged.items()}, step=progress.step)
        return loss.item()

    def evaluated_weights(self):
        """A context in which the model holds the weights the stage validates and keeps: the moving average when
        the stage keeps one, its own weights otherwise."""
        model = self.accelerator.unwrap_model(self.model)
        return nullcontext(model) if self.average is None else self.average.applied(model)

    def evaluate_and_decide(self) -> str | None:
        """Validation (main process, broadcast), best weights, plateau and time decisions (all of the averaged
        weights when the stage keeps an average), then a checkpoint."""
        evaluation_started = time.perf_counter()
        with self.evaluated_weights():
            decision = self._evaluate_and_decide()
        self.progress.stop_reason = decision
        self.progress.evaluation_seconds += time.perf_counter() - evaluation_started
        _save_checkpoint(self)
        return decision

    def _evaluate_and_decide(self) -> str | None:
        accelerator, progress = self.accelerator, self.progress
        metrics = None
        if accelerator.is_main_process:
            metrics = self.task.evaluate(accelerator.unwrap_model(self.model), self.validation_dataset)
        metrics = _broadcast(accelerator, metrics)
        accelerator.log(
            {f"{self.settings.name}/validation_{key}": value for key, value in metrics.items()}, step=progress.step
        )
        save_best = None
        if accelerator.is_main_process:

            def save_best():
                save_best_model(accelerator.unwrap_model(self.model), self.output_dir / "best", self.optimizer)

        decision = progress.evaluated(
            metrics,
            self.heads.score(metrics),
            self.settings,
            progress.step,
            self.elapsed(),
            self.optimizer.param_groups[0]["lr"],
            save_best,
            self.heads if accelerator.is_main_process else None,
        )
        return decision

    def run(self) -> str:
        """Trains until `max_steps`, a plateau or the time budget; returns why it stopped."""
        settings, progress = self.settings, self.progress
        bar = tqdm(
            total=settings.max_steps,
            initial=progress.step,
            desc=settings.name,
            disable=not self.accelerator.is_local_main_process,
            dynamic_ncols=True,
        )
        self.model.train()
        stop_reason = progress.stop_reason  # a resumed stage that had already decided to stop
        while progress.step < settings.max_steps and stop_reason is None:
            # Each epoch's order is a function of (seed, epoch): a resumed stage skips the batches its epoch had
            # done and sees the same ones after them as an uninterrupted run.
            self.loader.set_epoch(progress.epoch)
            batches = self.loader
            if progress.epoch_batches:
                batches = self.accelerator.skip_first_batches(self.loader, progress.epoch_batches)
            for batch in batches:
                progress.epoch_batches += 1
                loss = self.train_step(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", best=f"{progress.best:.2f}")
                # A spent time budget is evaluated at once (its annealed rate has reached 0), not at the next
                # interval.
                out_of_time = settings.time_budget_s is not None and self.elapsed() >= settings.time_budget_s
                if progress.step % settings.eval_every == 0 or progress.step >= settings.max_steps or out_of_time:
                    stop_reason = self.evaluate_and_decide()
                if stop_reason is not None or progress.step >= settings.max_steps:
                    break
            else:
                progress.epoch, progress.epoch_batches = progress.epoch + 1, 0
        bar.close()
        if not progress.history or progress.history[-1]["step"] != progress.step:
            self.evaluate_and_decide()
        return stop_reason or "max_steps"

    def finish(self, stop_reason: str, gate=None, baselines=None, previous=None) -> dict:
        """Loads the best weights into the model and writes the stage's record."""
        accelerator = self.accelerator
        accelerator.wait_for_everyone()
        model = accelerator.unwrap_model(self.model)
        best_folder = latest_whole(self.output_dir / "best", "config.json")
        model.load_state_dict(type(model).from_pretrained(best_folder).state_dict())
        self.heads.compose_into(model, best_folder, save=accelerator.is_main_process)
        record = self.progress.close(
            self.settings,
            stop_reason,
            self.output_dir / "best",
            gate,
            baselines,
            previous,
            rescore=self.heads.full_score,
            seconds=self.elapsed(),
            evaluation_seconds=self.progress.evaluation_seconds,  # validation, best weights and checkpoints
            resumed_from_step=self.resumed_from,
            processes=accelerator.num_processes,
            epochs=round(self.progress.epoch + self.progress.epoch_batches / max(len(self.loader), 1), 3),
        )
        if accelerator.is_main_process:
            with atomic_path(self.output_dir / "record.json") as temporary:
                temporary.write_text(json.dumps(record, indent=2))
        return record


def train_stage(
    accelerator,
    model,
    task,
    train_dataset,
    validation_dataset,
    settings: StageSettings,
    output_dir: str | Path,
    resume: bool = False,
    gate=None,
    baselines: dict | None = None,
    previous: dict | None = None,
) -> dict:
    """Trains `model` for one stage and returns its record; the best weights are saved (Hub format) to
    `output_dir/best` and loaded back into `model`.

    Args:
        accelerator: an `accelerate.Accelerator` (its trackers receive the losses and validation metrics).
        model: the model, not yet prepared.
        task: its `Task` (batches, loss, validation, selection).
        train_dataset, validation_dataset: the task's datasets (`task.dataset(...)`).
        settings: the stage settings.
        output_dir: the stage folder (`checkpoint/`, `best/`, `record.json`).
        resume: continue from `output_dir/checkpoint` when a complete one exists.
        gate, baselines, previous: the stage's `QualityGate`, the baselines it may compare with and the previous
            stage's best metrics; its verdict goes into the record (`record["gate"]`), nothing is raised.

    Raises:
        TrainingDivergedError: the loss became NaN or Inf, or the gradient stayed zero (the message gives the step).
    """
    stage = _AccelerateStage(accelerator, model, task, train_dataset, validation_dataset, settings, output_dir, resume)
    stop_reason = stage.run()
    return stage.finish(stop_reason, gate, baselines, previous)


def save_trained_model(model, record: dict, folder: str | Path, task=None) -> None:
    """Saves a trained model in Hub format (config.json, model.safetensors), what its task loads beside it (a
    processor's `preprocessor_config.json`) and the record of its training (`training_record.json`) to
    `folder`."""
    folder = Path(folder)
    model.save_pretrained(folder)
    if task is not None:
        task.save_extras(folder)
    with atomic_path(folder / "training_record.json") as temporary:
        temporary.write_text(json.dumps(record, indent=2, default=str))


def save_final_model(accelerator, model, record: dict, folder: str | Path, task=None) -> None:
    """`save_trained_model` of the unwrapped model, on the main process only."""
    if accelerator.is_main_process:
        save_trained_model(accelerator.unwrap_model(model), record, folder, task)
