"""The project's metrics (DESIGN §2), one convention for training, evaluation, cards and benchmarks.

Frames are compared after `uruk_hf.tonemap.tonemap` (Reinhard, then sRGB) with `data_range=1`: PSNR, SSIM and
MS-SSIM from torchmetrics, FLIP from `flip-evaluator`. Materials are scored on pixels with geometry and a label
(`label >= 0`): per-pixel accuracy, mean IoU and class-balanced accuracy. Nothing here reimplements a metric that a
well-kept library has; this module only fixes the conventions.
"""

import numpy as np
import torch

from .reprojection import warp_previous_frame
from .tonemap import tonemap

__all__ = ["FRAME_METRICS", "frame_metrics", "material_metrics", "ms_ssim_settings", "temporal_error"]

FRAME_METRICS = ("psnr", "ssim", "ms_ssim", "flip")
"""Frame metric keys; higher is better except `flip` (an error)."""

_MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_settings(height: int, width: int) -> dict:
    """MS-SSIM kernel and scale weights for a frame size: the standard 11-px kernel and 5 scales from 176 px, else
    a 7-px kernel with 4 scales from 128 px and 3 from 64 px (5 or 3 px and 2 scales below), the weights of the
    kept scales renormalized to sum to 1. The standard setting raises an error under 161 px."""
    size = min(height, width)
    if size >= 176:
        kernel, scales = 11, 5
    elif size >= 128:
        kernel, scales = 7, 4
    elif size >= 64:
        kernel, scales = 7, 3
    else:
        kernel, scales = (5 if size >= 24 else 3), 2
    betas = np.array(_MS_SSIM_BETAS[:scales])
    return {"kernel_size": kernel, "betas": tuple((betas / betas.sum()).tolist())}


def _flip(prediction: torch.Tensor, target: torch.Tensor) -> float:
    import flip_evaluator

    errors = []
    for predicted, reference in zip(prediction, target):
        _, mean, _ = flip_evaluator.evaluate(
            reference.permute(1, 2, 0).numpy().astype(np.float32),
            predicted.permute(1, 2, 0).numpy().astype(np.float32),
            "LDR",
            applyMagma=False,
        )
        errors.append(float(mean))
    return float(np.mean(errors))


@torch.no_grad()
def frame_metrics(prediction: torch.Tensor, target: torch.Tensor, flip: bool = True) -> dict[str, float]:
    """Mean per-frame PSNR, SSIM, MS-SSIM and FLIP of linear-HDR `prediction` against `target`, both
    `(batch, 3, H, W)`, after the project's tone map.

    Raises:
        ValueError: shapes differ or are not `(batch, 3, H, W)`, or either tensor holds NaN/Inf.
    """
    from torchmetrics.functional.image import (
        multiscale_structural_similarity_index_measure,
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    if prediction.shape != target.shape or prediction.ndim != 4 or prediction.shape[1] != 3:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must be (B, 3, H, W)."
        )
    for name, frames in (("prediction", prediction), ("target", target)):
        if not torch.isfinite(frames).all():
            raise ValueError(f"{name} holds NaN or Inf values.")
    predicted, reference = tonemap(prediction.float().cpu()), tonemap(target.float().cpu())
    height, width = predicted.shape[-2:]
    metrics = {
        "psnr": float(peak_signal_noise_ratio(predicted, reference, data_range=1.0, dim=(1, 2, 3))),
        "ssim": float(structural_similarity_index_measure(predicted, reference, data_range=1.0)),
        "ms_ssim": float(
            multiscale_structural_similarity_index_measure(
                predicted, reference, data_range=1.0, **ms_ssim_settings(height, width)
            )
        ),
    }
    if flip:
        metrics["flip"] = _flip(predicted, reference)
    return metrics


def material_metrics(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """Per-pixel accuracy, mean IoU and class-balanced accuracy of `predicted` class indices against `labels` over
    pixels with `labels >= 0` (geometry with a semantic class). Mean IoU averages classes that occur in either
    prediction or label; balanced accuracy averages the recall of classes present in `labels`."""
    predicted, labels = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    keep = labels >= 0
    predicted, labels = predicted[keep].astype(np.int64), labels[keep].astype(np.int64)
    if labels.size == 0:
        raise ValueError("No labelled pixels to score.")
    confusion = np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, -1)
    true_positive = np.diag(confusion).astype(float)
    label_count, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    union = label_count + predicted_count - true_positive
    present = label_count > 0
    return {
        "material_accuracy": float(true_positive.sum() / labels.size),
        "material_miou": float(np.mean(true_positive[union > 0] / union[union > 0])),
        "material_balanced_accuracy": float(np.mean(true_positive[present] / label_count[present])),
    }


@torch.no_grad()
def temporal_error(frames: torch.Tensor, motion: torch.Tensor, history_valid: torch.Tensor) -> float:
    """Mean absolute difference between each tone-mapped frame and the previous one warped by motion, over pixels
    where the reprojection is valid: flicker. `frames` `(B, K, 3, H, W)`, `motion` `(B, K, 2, H, W)`,
    `history_valid` `(B, K, 1, H, W)`; report it beside the same figure for the ground truth."""
    display = tonemap(frames.float())
    errors, weights = 0.0, 0.0
    for k in range(1, frames.shape[1]):
        warped = warp_previous_frame(display[:, k - 1], motion[:, k].float())
        valid = history_valid[:, k].float()
        errors += float(((display[:, k] - warped).abs() * valid).sum())
        weights += float(valid.sum()) * frames.shape[2]
    return errors / max(weights, 1.0)
