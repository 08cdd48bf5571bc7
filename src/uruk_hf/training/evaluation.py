"""Evaluating a renderer on a dataset split with the project's metrics, clips run in order from zeros."""

import time

import torch

from ..metrics import frame_metrics, material_metrics, temporal_error
from ..models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from .data import UrukClipCollator
from .unroll import unroll_clip

__all__ = ["evaluate_renderer", "unrolled_batches"]


def unrolled_batches(model, dataset, processor: UrukGBufferProcessor, batch_size: int = 8, config=None):
    """Yields `(batch, outputs, seconds)` for each batch of `dataset`'s clips: the collated batch, the model's
    outputs frame by frame, each clip run in order from zeros with the model's own history (`unroll_clip`), and the
    seconds the unroll took. Gradients are the caller's choice (`torch.no_grad()` around the loop)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=UrukClipCollator(processor))
    for batch in loader:
        start = time.perf_counter()
        outputs = unroll_clip(model, batch, processor, config=config)
        yield batch, outputs, time.perf_counter() - start


@torch.no_grad()
def evaluate_renderer(
    model, dataset, processor: UrukGBufferProcessor, batch_size: int = 8, flip: bool = True, config=None
) -> dict[str, float]:
    """Frame metrics (`psnr`, `ssim`, `ms_ssim`, `flip`), material metrics where the model has a head, the
    temporal error of the predictions and of the ground truth, and `ms_per_frame` (eager forward time)."""
    config = config or model.config
    # `model` may also be an ONNX Runtime renderer (`UrukORTRenderer`), which has no training mode.
    is_module = isinstance(model, torch.nn.Module)
    was_training = is_module and model.training
    if is_module:
        model.eval()
    frames, targets, logits, labels, motion, valid = [], [], [], [], [], []
    seconds, count = 0.0, 0
    for batch, outputs, elapsed in unrolled_batches(model, dataset, processor, batch_size, config):
        seconds += elapsed
        count += batch["pixel_values"].shape[0] * batch["pixel_values"].shape[1]
        frames.append(torch.stack([output.frame for output in outputs], dim=1))
        targets.append(batch["frame_targets"])
        if outputs[0].material_logits is not None:
            logits.append(torch.stack([output.material_logits.argmax(1) for output in outputs], dim=1))
            labels.append(batch["material_labels"])
        if "motion" in batch:
            motion.append(batch["motion"])
            valid.append(batch["history_valid"])
    if is_module:
        model.train(was_training)
    frames, targets = torch.cat(frames), torch.cat(targets)
    metrics = frame_metrics(frames.flatten(0, 1), targets.flatten(0, 1), flip=flip)
    metrics["ms_per_frame"] = seconds / count * 1e3
    if logits:
        metrics.update(material_metrics(torch.cat(logits).numpy(), torch.cat(labels).numpy(), config.num_labels))
    if motion:
        motion, valid = torch.cat(motion), torch.cat(valid)
        metrics["temporal_error"] = temporal_error(frames, motion, valid)
        metrics["temporal_error_ground_truth"] = temporal_error(targets, motion, valid)
    return metrics
