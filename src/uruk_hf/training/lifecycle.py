"""Lifecycle stages that decide from measurements (DESIGN §4). Smoke: catch bugs before spending compute.

Smoke runs on one batch of a tiny slice and fails, naming the check and the measured values, when the model's
outputs hold NaN/Inf, when its loss does not fall while overfitting that batch, or when a save/load round trip
does not give identical outputs.
"""

import copy
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..file_utils import atomic_path
from ..processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipCollator
from .unroll import unroll_clip

__all__ = ["SmokeFailure", "SmokeSettings", "run_smoke"]


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
