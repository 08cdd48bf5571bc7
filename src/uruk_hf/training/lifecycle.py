"""Lifecycle stages that decide from measurements (DESIGN §4).

- Smoke runs on one batch of a tiny slice and fails, naming the check and the measured values, when the model's
  outputs hold NaN/Inf, when its loss does not fall while overfitting that batch, or when a save/load round trip
  does not give identical outputs.
- Calibration trains a fresh model briefly at each candidate learning rate and keeps the rate with the best
  validation metric.
- Quality gates accept a stage's checkpoint only when a validation metric beats a baseline measured on the same
  validation frames (e.g. the cheap `direct` render) by a set margin, and say by how much they failed.
"""

import copy
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..file_utils import atomic_path
from ..metrics import frame_metrics
from ..processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipCollator
from .stage import StageSettings, train_stage
from .unroll import unroll_clip

__all__ = [
    "GateFailure",
    "QualityGate",
    "SmokeFailure",
    "SmokeSettings",
    "buffer_baseline",
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
        steps (`int`): optimizer steps of the overfitting check.
        learning_rate (`float`): Adam learning rate of the overfitting check (10 warm-up steps).
        min_loss_drop (`float`): the loss on the batch must fall by at least this fraction.
    """

    clips: int = 2
    steps: int = 40
    learning_rate: float = 5e-3
    min_loss_drop: float = 0.1


def _outputs_finite(outputs: list) -> bool:
    tensors = [output.frame for output in outputs] + [
        o.material_logits for o in outputs if o.material_logits is not None
    ]
    return all(bool(torch.isfinite(tensor).all()) for tensor in tensors)


def run_smoke(
    model,
    processor: UrukGBufferProcessor,
    dataset,
    loss_fn: Callable,
    settings: SmokeSettings = SmokeSettings(),
    output_dir: str | Path | None = None,
) -> dict:
    """Runs the Smoke checks on a copy of `model` (the model itself is not trained) and returns the record,
    written to `output_dir/record.json` when given.

    Raises:
        SmokeFailure: `non_finite_output`, `non_finite_loss`, `loss_not_falling` or `save_load_mismatch`.
    """
    started = time.perf_counter()
    batch = UrukClipCollator(processor)([dataset[index] for index in range(min(settings.clips, len(dataset)))])
    probe = copy.deepcopy(model).train()
    with torch.no_grad():
        if not _outputs_finite(unroll_clip(probe, batch, processor)):
            raise SmokeFailure("non_finite_output", "the untrained model's outputs hold NaN or Inf.", {})

    optimizer = torch.optim.Adam(probe.parameters(), lr=settings.learning_rate)
    losses = []
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * min(1.0, (step + 1) / 10)
        loss = loss_fn(unroll_clip(probe, batch, processor), batch)
        if not math.isfinite(loss.item()):
            raise SmokeFailure("non_finite_loss", f"loss is {loss.item()} at step {step + 1}.", {"step": step + 1})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    final = min(losses[-5:])
    drop = 1.0 - final / losses[0]
    measured = {"initial_loss": losses[0], "final_loss": final, "loss_drop": drop}
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
        difference = max(
            float((a.frame - b.frame).abs().max())
            for a, b in zip(unroll_clip(probe, batch, processor), unroll_clip(reloaded, batch, processor))
        )
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


class GateFailure(RuntimeError):
    """A quality gate rejected a stage's result; `result` holds the measured and required values."""

    def __init__(self, result: dict):
        shortfall = result["required"] - result["value"]
        super().__init__(
            f"Quality gate failed: {result['metric']} {result['value']:.2f} is {shortfall:.2f} below the required"
            f" {result['required']:.2f} ({result['baseline']} {result['baseline_value']:.2f} "
            f"+ margin {result['margin']:.2f})."
        )
        self.result = result


@dataclass(frozen=True)
class QualityGate:
    """Accept a result only if `metric` beats baseline `baseline` by `margin` (higher is better).

    Attributes:
        metric (`str`): a validation metric key (`psnr`, `ssim`, `ms_ssim`, `material_miou`, ...).
        baseline (`str`): a baseline key, e.g. the cheap render `direct`.
        margin (`float`): required advantage in the metric's unit (dB for PSNR).
    """

    metric: str = "psnr"
    baseline: str = "direct"
    margin: float = 3.0

    def check(self, metrics: dict, baselines: dict) -> dict:
        """Returns the gate's record; raises `GateFailure` (with that record) when the result falls short."""
        baseline_value = baselines[self.baseline][self.metric]
        result = {
            "metric": self.metric,
            "value": float(metrics[self.metric]),
            "baseline": self.baseline,
            "baseline_value": float(baseline_value),
            "margin": self.margin,
            "required": float(baseline_value + self.margin),
        }
        result["passed"] = result["value"] >= result["required"]
        if not result["passed"]:
            raise GateFailure(result)
        return result


def buffer_baseline(dataset, buffer: str, flip: bool = False) -> dict[str, float]:
    """Frame metrics of a raw input buffer (e.g. `direct`) used as the frame itself, against the ground truth of
    the same `UrukClipDataset` frames: the baseline a gate compares with."""
    rows = np.concatenate(dataset.clips)
    prediction = torch.from_numpy(dataset.arrays[buffer][rows].astype(np.float32)).permute(0, 3, 1, 2)
    target = torch.from_numpy(dataset.arrays["ground_truth"][rows].astype(np.float32)).permute(0, 3, 1, 2)
    return frame_metrics(prediction, target, flip=flip)


def run_calibration(
    make_model: Callable,
    processor: UrukGBufferProcessor,
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
            processor,
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
        "metric": settings.selection_metric,
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
    processor: UrukGBufferProcessor,
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
                accelerator, model, processor, train_dataset, validation_dataset, stage.settings, folder, resume
            )
            accelerator.end_training()
        if stage.gate is not None:
            previous = {"previous": records[-1]["best"]} if records else {}
            record["gate"] = stage.gate.check(record["best"], {**baselines, **previous})
        records.append(record)
    return records
