"""Baselines on a generated dataset (DESIGN §2): what a model must beat, measured with the project's metrics.

Frames (test split, against the path-traced ground truth): the cheap `direct` render, the 1-spp path-traced frame,
Intel Open Image Denoise on that 1-spp frame (`pyoidn`, HDR, with the clean albedo and normal buffers), the
half-resolution render `path_half` upscaled 2x (bilinear, bicubic, and bilinear demodulated by albedo: the WS6
baselines), and the ground truth's own noise floor (an independent render at the same spp). Materials (pixels
with geometry and a class): a per-pixel MLP on the 12 G-buffer channels (12 -> 128 -> 128 -> classes,
early-stopped on validation), the majority class, and a `material_id` -> class lookup learned on train, which must
stay near the majority class because ids are randomized per scene.
"""

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...metrics import frame_metrics, material_metrics
from ...models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from ...modules.mlp import UrukMLP
from ...modules.upscaling import block_average, demodulated_upscale, upscale
from ...schema import GBUFFER_LAYOUT, MATERIAL_CLASSES
from ..folder import load_split

__all__ = [
    "FRAME_BASELINES",
    "MATERIAL_BASELINES",
    "OIDN_QUALITIES",
    "UPSCALING_BASELINES",
    "compute_baselines",
    "ground_truth_floor",
    "load_split",
    "majority_material",
    "oidn_denoise",
    "oidn_frames",
    "per_pixel_mlp_metrics",
    "to_bchw",
    "train_per_pixel_mlp",
    "upscaled_frames",
]

UPSCALING_BASELINES = ("bilinear", "bicubic", "demodulated_bilinear")
"""2x upscales of the half-resolution render `path_half` (`upscaled_frames`)."""

FRAME_BASELINES = ("direct", "path_1spp", "oidn", *UPSCALING_BASELINES, "gt_floor")
MATERIAL_BASELINES = ("per_pixel_mlp", "majority", "material_id_lookup")


OIDN_QUALITIES = ("high", "balanced", "fast")
"""OIDN's quality modes, best first (`high` is its default for final frames, `fast` its real-time mode)."""


def oidn_denoise(noisy: np.ndarray, albedo: np.ndarray, normal: np.ndarray, quality: str = "high") -> np.ndarray:
    """OIDN (`pyoidn`, RT filter, HDR, clean auxiliary buffers, quality mode `quality`) on one `(H, W, 3)` linear
    frame."""
    import pyoidn

    return pyoidn.denoise(
        np.ascontiguousarray(noisy, np.float32),
        np.ascontiguousarray(np.clip(albedo, 0, 1), np.float32),
        np.ascontiguousarray(normal, np.float32),
        hdr=True,
        clean_aux=True,
        quality=quality,
    )


def oidn_frames(rows: dict[str, np.ndarray], quality: str = "high") -> tuple[np.ndarray, float]:
    """OIDN in mode `quality` on every `path_1spp` frame of `rows` (with its `albedo` and `normal`): the
    `(N, H, W, 3)` denoised frames and the median milliseconds per frame."""
    denoised, timings = [], []
    for noisy, albedo, normal in zip(rows["path_1spp"], rows["albedo"], rows["normal"]):
        start = time.perf_counter()
        denoised.append(oidn_denoise(noisy, albedo, normal, quality))
        timings.append(time.perf_counter() - start)
    return np.stack(denoised), float(np.median(timings) * 1e3)


def upscaled_frames(rows: dict[str, np.ndarray], method: str) -> torch.Tensor:
    """The half-resolution render `path_half` of `rows` (stored repeated 2x2) upscaled to full size by `method`, one
    of `UPSCALING_BASELINES` (`demodulated_bilinear` divides by the 2x2-averaged albedo, upsamples and multiplies by
    the full-resolution albedo): `(N, 3, H, W)` linear radiance."""
    radiance = to_bchw(rows["path_half"])
    if method == "demodulated_bilinear":
        return demodulated_upscale(radiance, to_bchw(rows["albedo"]), 2)
    if method not in UPSCALING_BASELINES:
        raise ValueError(f"Unknown upscaling baseline {method!r}; choose one of {UPSCALING_BASELINES}.")
    return upscale(block_average(radiance, 2), tuple(radiance.shape[-2:]), 2, method).clamp_min(0.0)


def ground_truth_floor(rows: dict[str, np.ndarray]) -> dict[str, float] | None:
    """Frame metrics of the independent ground-truth re-render against the ground truth, on the frames of `rows`
    that have one (the ground truth's own noise floor); `None` when none has."""
    independent = rows["has_independent_ground_truth"].astype(bool)
    if not independent.any():
        return None
    target = to_bchw(rows["ground_truth"][independent])
    return frame_metrics(to_bchw(rows["ground_truth_independent"][independent]), target)


def majority_material(labels: np.ndarray, num_classes: int) -> int:
    """The most frequent class among the labelled pixels (`>= 0`) of `labels`."""
    labels = np.asarray(labels, np.int64).ravel()
    return int(np.bincount(labels[labels >= 0], minlength=num_classes).argmax())


def to_bchw(frames: np.ndarray) -> torch.Tensor:
    """`(N, H, W, C)` frames (any float dtype) as a float32 `(N, C, H, W)` tensor."""
    return torch.from_numpy(np.asarray(frames, np.float32)).permute(0, 3, 1, 2)


def per_pixel_mlp(num_classes: int, in_channels: int = 12, hidden: int = 128) -> UrukMLP:
    """The per-pixel material baseline: 12 G-buffer channels -> 128 -> 128 -> classes."""
    return UrukMLP(in_channels, [hidden, hidden], num_classes)


def _gbuffer_pixels(rows: dict[str, np.ndarray], processor: UrukGBufferProcessor) -> tuple[torch.Tensor, np.ndarray]:
    """Normalized 12-channel features and labels of the labelled pixels of `rows`."""
    buffers = {entry["name"]: rows[entry["name"]].astype(np.float32) for entry in GBUFFER_LAYOUT}
    features = processor(buffers)["pixel_values"].permute(0, 2, 3, 1).reshape(-1, processor.num_channels)
    labels = rows["material_label"].reshape(-1).astype(np.int64)
    keep = labels >= 0
    return features[torch.from_numpy(keep)], labels[keep]


def per_pixel_mlp_metrics(model: UrukMLP, rows: dict[str, np.ndarray]) -> dict[str, float]:
    """Material metrics of a trained per-pixel MLP on the labelled pixels of `rows` (G-buffer and labels)."""
    features, labels = _gbuffer_pixels(rows, UrukGBufferProcessor(input_buffers=GBUFFER_LAYOUT))
    with torch.no_grad():
        prediction = model(features).argmax(1).numpy()
    return material_metrics(prediction, labels, model.layers[-1].out_features)


def train_per_pixel_mlp(
    folder: str | Path,
    num_classes: int,
    max_epochs: int = 30,
    patience: int = 3,
    max_pixels: int = 1_000_000,
    seed: int = 0,
) -> tuple[UrukMLP, dict]:
    """Trains the per-pixel MLP on the train split, early-stopped on validation accuracy; returns the best model
    and its training record."""
    processor = UrukGBufferProcessor(input_buffers=GBUFFER_LAYOUT)
    columns = [entry["name"] for entry in GBUFFER_LAYOUT] + ["material_label"]
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = _gbuffer_pixels(load_split(folder, "train", columns), processor)
    if len(train_y) > max_pixels:
        chosen = torch.randperm(len(train_y), generator=generator)[:max_pixels]
        train_x, train_y = train_x[chosen], train_y[chosen.numpy()]
    validation_x, validation_y = _gbuffer_pixels(load_split(folder, "validation", columns), processor)
    train_y = torch.from_numpy(train_y)
    torch.manual_seed(seed)
    model = per_pixel_mlp(num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best_accuracy, best_state, best_epoch, stale, history = -1.0, None, 0, 0, []
    for epoch in range(max_epochs):
        model.train()
        for batch in torch.randperm(len(train_y), generator=generator).split(8192):
            loss = nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(validation_x).argmax(1).numpy() == validation_y).mean())
        history.append(accuracy)
        if accuracy > best_accuracy:
            best_accuracy, best_epoch, stale = accuracy, epoch, 0
            best_state = {name: value.clone() for name, value in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    record = {"train_pixels": len(train_y), "best_epoch": best_epoch, "validation_accuracy": history}
    return model.eval(), record


def compute_baselines(folder: str | Path, split: str = "test", seed: int = 0, mlp_epochs: int = 30) -> dict:
    """Every baseline of this module on `split` of the dataset in `folder`.

    Returns `{"split", "frames", "baselines": {key: metrics}, "per_pixel_mlp_training": record}`, with frame
    metrics `psnr`, `ssim`, `ms_ssim`, `flip` (and `ms_per_frame` for OIDN) and material metrics
    `material_accuracy`, `material_miou`, `material_balanced_accuracy`.
    """
    rows = load_split(folder, split)
    num_classes = len(MATERIAL_CLASSES)
    target = to_bchw(rows["ground_truth"])
    baselines = {
        "direct": frame_metrics(to_bchw(rows["direct"]), target),
        "path_1spp": frame_metrics(to_bchw(rows["path_1spp"]), target),
    }
    denoised, ms_per_frame = oidn_frames(rows)
    baselines["oidn"] = {**frame_metrics(to_bchw(denoised), target), "ms_per_frame": ms_per_frame}
    for method in UPSCALING_BASELINES:
        baselines[method] = frame_metrics(upscaled_frames(rows, method), target)
    floor = ground_truth_floor(rows)
    if floor is not None:
        baselines["gt_floor"] = floor

    labels = rows["material_label"].astype(np.int64)
    model, training = train_per_pixel_mlp(folder, num_classes, max_epochs=mlp_epochs, seed=seed)
    labelled = labels[labels >= 0]
    baselines["per_pixel_mlp"] = per_pixel_mlp_metrics(model, rows)

    train = load_split(folder, "train", ["material_id", "material_label"])
    train_labels = train["material_label"].astype(np.int64).ravel()
    train_ids = np.rint(train["material_id"].astype(np.float32)).astype(np.int64).ravel()
    keep = train_labels >= 0
    majority = majority_material(train_labels, num_classes)
    baselines["majority"] = material_metrics(np.full(labelled.shape, majority), labelled, num_classes)
    lookup = np.full(256, majority)
    for object_id in np.unique(train_ids[keep]):
        lookup[object_id] = np.bincount(
            train_labels[keep][train_ids[keep] == object_id], minlength=num_classes
        ).argmax()
    test_ids = np.rint(rows["material_id"].astype(np.float32)).astype(np.int64)[..., 0]
    baselines["material_id_lookup"] = material_metrics(lookup[test_ids[labels >= 0]], labelled, num_classes)
    return {"split": split, "frames": len(labels), "baselines": baselines, "per_pixel_mlp_training": training}
