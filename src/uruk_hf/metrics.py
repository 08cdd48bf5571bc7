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

__all__ = [
    "FRAME_METRICS",
    "error_variance_bias",
    "frame_metrics",
    "masked_frame_metrics",
    "material_metrics",
    "ms_ssim_settings",
    "relighting_metrics",
    "temporal_error",
]

FRAME_METRICS = ("psnr", "ssim", "ms_ssim", "flip")
"""Frame metric keys; higher is better except `flip` (an error)."""

_MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_settings(height: int, width: int) -> dict:
    """MS-SSIM settings for a frame size: 5 scales from 176 px, 4 from 128 px, 3 from 64 px and 2 below, the
    weights of the kept scales renormalized to sum to 1 (the standard setting raises an error under 161 px).
    torchmetrics checks the frame against `kernel_size` (11 px from 176 px, 7 from 64, 5 or 3 below) at the
    coarsest scale, but its Gaussian window is sized by sigma alone: 11 px (sigma 1.5) at every frame size, which
    every recorded MS-SSIM figure of the project used."""
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


def _flip(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean FLIP of tone-mapped frames (per frame, then over frames); with a `(B, H, W)` bool `mask`, the mean of
    the error maps over the masked pixels of all frames."""
    import flip_evaluator

    errors, masked = [], []
    for index, (predicted, reference) in enumerate(zip(prediction, target)):
        error_map, mean, _ = flip_evaluator.evaluate(
            reference.permute(1, 2, 0).numpy().astype(np.float32),
            predicted.permute(1, 2, 0).numpy().astype(np.float32),
            "LDR",
            applyMagma=False,
        )
        errors.append(float(mean))
        if mask is not None:
            masked.append(np.asarray(error_map).reshape(mask.shape[1:])[mask[index].numpy()])
    if mask is not None:
        return float(np.concatenate(masked).mean())
    return float(np.mean(errors))


def _check_frames(**frames: torch.Tensor) -> None:
    """Raises a `ValueError` naming the tensor unless all are `(batch, 3, H, W)` of one shape and finite."""
    shapes = {name: tuple(tensor.shape) for name, tensor in frames.items()}
    first = next(iter(shapes.values()))
    if len(set(shapes.values())) > 1 or len(first) != 4 or first[1] != 3:
        described = " and ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{described} must be (B, 3, H, W).")
    for name, tensor in frames.items():
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} holds NaN or Inf values.")


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

    _check_frames(prediction=prediction, target=target)
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


@torch.no_grad()
def masked_frame_metrics(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, flip: bool = True
) -> dict[str, float]:
    """PSNR, SSIM (and FLIP) of linear-HDR `(B, 3, H, W)` frames over the pixels of a `(B, H, W)` bool `mask`, after
    the project's tone map: PSNR of the mean squared error over every masked pixel of every frame, and the SSIM and
    FLIP maps averaged over the same pixels. NaN where the mask is empty."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    if not bool(mask.any()):
        return {"psnr": float("nan"), "ssim": float("nan"), **({"flip": float("nan")} if flip else {})}
    predicted, reference = tonemap(prediction.float().cpu()), tonemap(target.float().cpu())
    selected = mask.cpu()[:, None].expand_as(predicted)
    mse = float(((predicted - reference) ** 2)[selected].mean())
    _, ssim_map = structural_similarity_index_measure(
        predicted, reference, data_range=1.0, return_full_image=True, reduction="none"
    )
    metrics = {"psnr": float(10 * np.log10(1.0 / max(mse, 1e-12))), "ssim": float(ssim_map[selected].mean())}
    if flip:
        metrics["flip"] = _flip(predicted, reference, mask.cpu())
    return metrics


@torch.no_grad()
def error_variance_bias(
    prediction: torch.Tensor,
    prediction_resampled: torch.Tensor,
    target: torch.Tensor,
    target_independent: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """A renderer's squared error split, per pixel, into its variance, the reference's own noise and its bias.

    `prediction` and `prediction_resampled` are the renderer's outputs on two renders of the same frames that differ
    only in their random samples; `target` is the ground truth `prediction` is scored against and
    `target_independent` an independent re-render of it. All are linear HDR `(batch, 3, H, W)`, compared after the
    project's tone map as `frame_metrics` compares them. With independent noise, the expected squared error is the
    sum of the renderer's variance (estimated by `|prediction - prediction_resampled|^2 / 2`), the reference's noise
    (`|target - target_independent|^2 / 2`) and the squared bias, the part that does not change with the samples
    (estimated as the remainder, so a pixel's estimate can be negative; averages over many pixels are unbiased).

    Returns:
        `{"error", "variance", "reference_noise", "bias_squared"}`, each `(batch, H, W)`, the mean over the
        channels.

    Raises:
        ValueError: the four are not `(B, 3, H, W)` of one shape, or one holds NaN/Inf.
    """
    _check_frames(
        prediction=prediction,
        prediction_resampled=prediction_resampled,
        target=target,
        target_independent=target_independent,
    )
    first, second, reference, independent = (
        tonemap(frames.float().cpu()) for frames in (prediction, prediction_resampled, target, target_independent)
    )
    error = (first - reference).pow(2).mean(dim=1)
    variance = 0.5 * (first - second).pow(2).mean(dim=1)
    reference_noise = 0.5 * (reference - independent).pow(2).mean(dim=1)
    return {
        "error": error,
        "variance": variance,
        "reference_noise": reference_noise,
        "bias_squared": error - variance - reference_noise,
    }


def relighting_metrics(
    prediction: np.ndarray,
    target: np.ndarray,
    changed: np.ndarray,
    pairs: list[tuple[int, int]],
    presets: tuple[str, ...],
    flip: bool = True,
) -> dict[str, float]:
    """The WS4 metrics of `(N, H, W, 3)` linear frames relit from `pairs[i] = (source, target)` preset indices:
    `frame_metrics` overall, `masked_frame_metrics` on the `(N, H, W)` shadow-changed pixels (keys
    `*_shadow_changed`), and per ordered pair `psnr_<source>_to_<target>` and `psnr_shadow_changed_<...>`."""
    predicted = torch.from_numpy(np.asarray(prediction, np.float32)).permute(0, 3, 1, 2)
    reference = torch.from_numpy(np.asarray(target, np.float32)).permute(0, 3, 1, 2)
    mask = torch.from_numpy(np.asarray(changed, bool))
    metrics = frame_metrics(predicted, reference, flip=flip)
    changed_metrics = masked_frame_metrics(predicted, reference, mask, flip=flip)
    metrics.update({f"{key}_shadow_changed": value for key, value in changed_metrics.items()})
    pair_index = np.array([s * len(presets) + t for s, t in pairs])
    for s, t in sorted(set(pairs)):
        rows = torch.from_numpy(np.flatnonzero(pair_index == s * len(presets) + t))
        name = f"{presets[s]}_to_{presets[t]}"
        metrics[f"psnr_{name}"] = frame_metrics(predicted[rows], reference[rows], flip=False)["psnr"]
        pair_changed = masked_frame_metrics(predicted[rows], reference[rows], mask[rows], flip=False)
        metrics[f"psnr_shadow_changed_{name}"] = pair_changed["psnr"]
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
