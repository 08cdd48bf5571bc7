"""Lifecycle stages that decide from measurements (DESIGN §4).

- Smoke runs on one batch of a tiny slice and fails, naming the check and the measured values, when the model's
  outputs hold NaN/Inf, when its loss does not fall while overfitting that batch, or when a save/load round trip
  does not give identical outputs.
- Calibration trains a fresh model briefly at each candidate learning rate and keeps the rate with the best
  validation metric.
- A curriculum of stages on the Accelerate loop, each from the previous stage's best weights and checked by its
  quality gate (`uruk_hf.training.gates`).

Every stage takes the model's `Task`: what a batch is, how it is scored and what validation measures.
"""

import copy
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..file_utils import atomic_path
from .gates import GateFailure
from .progress import StageSettings
from .stage import train_stage

__all__ = [
    "SmokeFailure",
    "SmokeSettings",
    "finished_record",
    "run_calibration",
    "run_smoke",
    "train_curriculum",
]


class SmokeFailure(RuntimeError):
    """A Smoke check failed; `check` names it and `measured` holds the numbers behind the decision."""

    def __init__(self, check: str, message: str, measured: dict):
        super().__init__(f"Smoke check {check!r} failed: {message}")
        self.check, self.measured = check, measured


@dataclass(frozen=True)
class SmokeSettings:
    """Settings of the Smoke stage.

    Attributes:
        clips (`int`): clips in the single batch.
        steps (`int`): most optimizer steps of the overfitting check.
        learning_rate (`float`): Adam learning rate of the overfitting check (10 warm-up steps).
        min_loss_drop (`float`): the loss on the batch must fall by at least this fraction.
        early_pass_drop (`float | None`): the check passes and stops before `steps` once, after the warm-up, the
            loss has fallen by this fraction (and by `min_loss_drop`): more steps would only cost time. `None` runs
            every step. Measured at the quick preset: every renderer's loss had fallen by 45% or more by step 15,
            against the 10% required by step 40.
    """

    clips: int = 2
    steps: int = 40
    learning_rate: float = 5e-3
    min_loss_drop: float = 0.1
    early_pass_drop: float | None = 0.2


_SMOKE_WARMUP_STEPS = 10
"""Steps of the Smoke check's linear learning-rate warm-up."""
_SMOKE_LOSS_WINDOW = 5
"""The Smoke check's loss is the lowest of its last this many steps (one batch's loss still jitters)."""


def run_smoke(
    model,
    task,
    dataset,
    weights=None,
    settings: SmokeSettings = SmokeSettings(),
    output_dir: str | Path | None = None,
) -> dict:
    """Runs the Smoke checks on a copy of `model` (the model itself is not trained) with the task's loss under
    `weights` and returns the record, written to `output_dir/record.json` when given.

    Raises:
        SmokeFailure: `non_finite_output`, `non_finite_loss`, `loss_not_falling` or `save_load_mismatch`.
    """
    started = time.perf_counter()
    batch = task.collate([dataset[index] for index in range(min(settings.clips, len(dataset)))])
    probe = copy.deepcopy(model).train()
    with torch.no_grad():
        if not task.outputs_finite(task.forward(probe, batch)):
            raise SmokeFailure("non_finite_output", "the untrained model's outputs hold NaN or Inf.", {})

    optimizer = torch.optim.Adam(probe.parameters(), lr=settings.learning_rate)
    losses = []
    early_pass = None if settings.early_pass_drop is None else max(settings.early_pass_drop, settings.min_loss_drop)
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * min(1.0, (step + 1) / _SMOKE_WARMUP_STEPS)
        loss = task.loss(task.forward(probe, batch), batch, weights)
        if not math.isfinite(loss.item()):
            raise SmokeFailure("non_finite_loss", f"loss is {loss.item()} at step {step + 1}.", {"step": step + 1})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        final = min(losses[-_SMOKE_LOSS_WINDOW:])
        drop = 1.0 - final / losses[0]
        past_warmup = step + 1 >= _SMOKE_WARMUP_STEPS + _SMOKE_LOSS_WINDOW
        if early_pass is not None and past_warmup and drop >= early_pass:
            break
    measured = {"initial_loss": losses[0], "final_loss": final, "loss_drop": drop, "steps": len(losses)}
    if drop < settings.min_loss_drop:
        raise SmokeFailure(
            "loss_not_falling",
            f"overfitting one batch for {settings.steps} steps lowered the loss by {drop:.1%} ({losses[0]:.5f} -> "
            f"{final:.5f}); at least {settings.min_loss_drop:.0%} was required.",
            measured,
        )

    probe.eval()
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        probe.save_pretrained(folder)
        reloaded = type(probe).from_pretrained(folder).eval()
        difference = task.outputs_difference(task.forward(probe, batch), task.forward(reloaded, batch))
    measured["round_trip_max_difference"] = difference
    if difference != 0.0:
        raise SmokeFailure("save_load_mismatch", f"reloaded outputs differ by up to {difference:.3g}.", measured)

    record = {
        "stage": "smoke",
        "passed": True,
        "settings": asdict(settings),
        "measured": measured,
        "loss_history": losses,
        "seconds": time.perf_counter() - started,
    }
    if output_dir is not None:
        with atomic_path(Path(output_dir) / "record.json") as temporary:
            temporary.write_text(json.dumps(record, indent=2))
    return record


def run_calibration(
    make_model: Callable,
    task,
    train_dataset,
    validation_dataset,
    settings: StageSettings,
    learning_rates: list[float],
    output_dir: str | Path,
    make_accelerator: Callable | None = None,
) -> dict:
    """Trains `make_model()` for `settings.max_steps` steps at each of `learning_rates` (same seed, same data) and
    returns the record with every candidate's best validation selection score and the chosen rate,
    also written to `output_dir/record.json`. Each candidate gets its own folder and Accelerator.
    """
    from accelerate import Accelerator

    make_accelerator = make_accelerator or (lambda: Accelerator(cpu=not torch.cuda.is_available()))
    output_dir = Path(output_dir)
    started = time.perf_counter()
    candidates = []
    for learning_rate in learning_rates:
        torch.manual_seed(settings.seed)
        candidate = replace(settings, name=f"{settings.name}_lr{learning_rate:g}", learning_rate=learning_rate)
        record = train_stage(
            make_accelerator(),
            make_model(),
            task,
            train_dataset,
            validation_dataset,
            candidate,
            output_dir / candidate.name,
        )
        candidates.append(
            {
                "learning_rate": learning_rate,
                "score": record["best"]["score"],
                "seconds": record["seconds"],
            }
        )
    chosen = max(candidates, key=lambda candidate: candidate["score"])
    record = {
        "stage": "calibration",
        "metric": "selection score",
        "candidates": candidates,
        "chosen_learning_rate": chosen["learning_rate"],
        "seconds": time.perf_counter() - started,
    }
    with atomic_path(output_dir / "record.json") as temporary:
        temporary.write_text(json.dumps(record, indent=2))
    return record


def finished_record(folder: str | Path, resume: bool) -> dict | None:
    """The record (`folder/record.json`) of a stage an earlier run finished, when resuming; otherwise `None`."""
    record = Path(folder) / "record.json"
    return json.loads(record.read_text()) if resume and record.is_file() else None


def train_curriculum(
    make_accelerator: Callable,
    model,
    task,
    train_dataset,
    validation_dataset,
    stages: list,
    output_dir: str | Path,
    baselines: dict,
    resume: bool = False,
) -> list[dict]:
    """Runs `stages` (`CurriculumStage`s; their teacher terms are unused) one after the other on the Accelerate
    loop, each from the previous stage's best weights, into `output_dir/<stage name>`, checking each stage's gate
    against `baselines` plus `"previous"` (the previous stage's best metrics). With `resume`, stages with a record
    are read back and the interrupted one continues from its checkpoint. Returns the stage records.

    Raises:
        GateFailure: a stage's gate failed (its record is on disk; later stages do not run).
    """
    output_dir = Path(output_dir)
    records = []
    for stage in stages:
        folder = output_dir / stage.settings.name
        record = finished_record(folder, resume)
        if record is not None:
            model.load_state_dict(type(model).from_pretrained(folder / "best").state_dict())
        else:
            accelerator = make_accelerator(stage.settings.name)
            record = train_stage(
                accelerator,
                model,
                task,
                train_dataset,
                validation_dataset,
                stage.settings,
                folder,
                resume,
                gate=stage.gate,
                baselines=baselines,
                previous=records[-1]["best"] if records else None,
            )
            accelerator.end_training()
        if "gate" in record and not record["gate"]["passed"]:
            raise GateFailure(record["gate"])
        records.append(record)
    return records
