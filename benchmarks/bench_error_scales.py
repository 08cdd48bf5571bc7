"""Where a renderer's error lies on the hand-made scenes, per frame size: smooth (light it got wrong) or fine
(noise, edges, texture).

    uruk evaluate --run runs/quick                      # renders runs/quick/generalization once
    python benchmarks/bench_error_scales.py --run runs/quick [--model NAME=FOLDER ...] [--sizes 64,128,256]

Every renderer of the run (and each `--model`) runs the hand-made clips in order with its own history, as `uruk
evaluate` does; OIDN (high) denoises the 1-spp frame with albedo and normal. The tone-mapped error of all frames
is split by a box blur of width `size // 8 + 1` pixels (the same share of the frame at every size) into a smooth
part (the blurred error) and a fine part (the rest). Per model and size the table gives PSNR (mean over frames),
the mean squared error of each part, and each part's ratio to its value at the first size: a part whose ratio stays
near 1 is error that more pixels do not remove.

With `--noise-split` every set is also rendered a second time with other random samples (the same scenes, cameras
and G-buffer; `RUN/generalization/handmade_<size>_resampled`, reused by later calls), every model runs on both,
and each model's mean squared error is split into its variance (what changes with the samples), the ground truth's
own noise and its squared bias (what does not; `uruk_hf.metrics.error_variance_bias`), at every size and, at the
largest size, per material class (each class's share of the frames' mean squared error).
"""

import argparse
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from uruk_hf.catalog import model_entry_for_type
from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.baselines import oidn_frames, to_bchw
from uruk_hf.data.rendering.handmade import HANDMADE_SAMPLE_SEED, render_handmade_set
from uruk_hf.generalization import run_models
from uruk_hf.metrics import error_variance_bias
from uruk_hf.schema import MATERIAL_CLASSES
from uruk_hf.tables import format_table
from uruk_hf.tonemap import tonemap
from uruk_hf.training.evaluation import unrolled_batches

_PARTS = ("error", "variance", "reference_noise", "bias_squared")
"""The parts of `error_variance_bias`, in the order of the tables' columns."""


def model_frames(folder: Path, data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """`(predictions, targets)`, `(frames, 3, H, W)` linear, of the model in `folder` on the test split of `data`,
    clips in order with the model's own history."""
    from transformers import AutoConfig

    family, entry = model_entry_for_type(AutoConfig.from_pretrained(folder).model_type)
    model = entry.model_class.from_pretrained(folder).eval()
    task = family.make_task(model.config)
    clips, predictions, targets = task.dataset(data, "test"), [], []
    with torch.no_grad():
        for batch, outputs, _ in unrolled_batches(model, clips, task.processor, config=model.config):
            predictions.append(torch.stack([output.frame for output in outputs], dim=1).flatten(0, 1))
            targets.append(batch["frame_targets"].flatten(0, 1))
    return torch.cat(predictions), torch.cat(targets)


def oidn_and_targets(data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """OIDN (high) on the test split's 1-spp frames with albedo and normal, and the ground truth."""
    rows = load_split(data, "test")
    denoised, _ = oidn_frames(rows, "high")
    return to_bchw(denoised), to_bchw(rows["ground_truth"])


def error_scales(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """PSNR (mean over frames) and the mean squared tone-mapped error of its smooth and fine parts."""
    error = tonemap(prediction) - tonemap(target)
    width = prediction.shape[-1] // 8 + 1
    smooth = F.avg_pool2d(error, width, stride=1, padding=width // 2, count_include_pad=False)
    per_frame = error.pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return {
        "psnr": float((-10 * torch.log10(per_frame)).mean()),
        "smooth": float(smooth.pow(2).mean()),
        "fine": float((error - smooth).pow(2).mean()),
    }


@lru_cache
def split_frames(data: Path, buffer: str) -> torch.Tensor:
    """`buffer` of every frame of the test split of `data`, `(frames, C, H, W)`, read once per set and buffer."""
    return to_bchw(load_split(data, "test", [buffer])[buffer])


def resampled_set(scenes: Path, size: int) -> Path:
    """The hand-made set of `size` rendered again with the next sample seed, checked to hold the same frames."""
    first = scenes / f"handmade_{size}"
    spp = json.loads((first / "handmade.json").read_text())["ground_truth_spp"]
    second = render_handmade_set(
        scenes / f"handmade_{size}_resampled", size, spp, sample_seed=HANDMADE_SAMPLE_SEED + 1
    )
    for buffer in ("albedo", "material_id"):
        if not torch.equal(split_frames(first, buffer), split_frames(second, buffer)):
            raise SystemExit(f"{second} and {first} differ in `{buffer}`: they are not renders of the same frames.")
    return second


def frames_on(name: str, models: dict[str, Path], data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """`(predictions, targets)` of model `name` (or `oidn_high`) on the test split of `data`, in the split's order."""
    predictions, targets = oidn_and_targets(data) if name == "oidn_high" else model_frames(models[name], data)
    if not torch.equal(targets, split_frames(data, "ground_truth")):
        raise SystemExit(f"The clips of {data} did not come back in the split's order; the split cannot be paired.")
    return predictions, targets


def noise_split(
    name: str, models: dict[str, Path], frames: tuple[torch.Tensor, torch.Tensor], data: Path, resampled: Path
) -> dict[str, torch.Tensor]:
    """`error_variance_bias` of model `name` from its `frames` (predictions, targets) on the set `data`, and its
    predictions on the `resampled` render."""
    prediction, target = frames
    prediction_resampled, _ = frames_on(name, models, resampled)
    independent = split_frames(data, "ground_truth_independent")
    return error_variance_bias(prediction, prediction_resampled, target, independent)


def class_rows(name: str, split: dict[str, torch.Tensor], labels: torch.Tensor) -> list[list[str]]:
    """Per material class: its share of the pixels and of each part of the frames' mean squared error (x1e4)."""
    rows = []
    for index, class_name in enumerate(MATERIAL_CLASSES):
        selected = labels == index
        if bool(selected.any()):
            parts = [f"{float(split[part][selected].sum()) / labels.numel() * 1e4:.2f}" for part in _PARTS]
            rows.append([name, class_name, f"{float(selected.float().mean()):.1%}", *parts])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a `uruk pipeline` folder on which `uruk evaluate` ran")
    parser.add_argument("--model", action="append", default=[], help="NAME=FOLDER: also this model (repeatable)")
    parser.add_argument("--sizes", default="64,128,256", help="hand-made set sizes, comma-separated")
    parser.add_argument("--scenes", default=None, help="the rendered hand-made sets (default RUN/generalization)")
    parser.add_argument(
        "--noise-split", action="store_true", help="also split each error into variance, reference noise and bias"
    )
    args = parser.parse_args()
    run = Path(args.run)
    scenes = Path(args.scenes) if args.scenes else run / "generalization"
    sizes = [int(size) for size in args.sizes.split(",")]
    sets = {size: scenes / f"handmade_{size}" / "data" for size in sizes}
    missing = [str(folder) for folder in sets.values() if not folder.is_dir()]
    if missing:
        raise SystemExit(f"No rendered hand-made set at {', '.join(missing)}: run `uruk evaluate --run {run}` first.")
    models = dict(run_models(run))
    for item in args.model:
        name, _, folder = item.partition("=")
        if not folder:
            raise SystemExit(f"--model takes NAME=FOLDER, got {item!r}.")
        models[name] = Path(folder)

    largest = max(sizes)
    if args.noise_split:
        resampled = {size: resampled_set(scenes, size) for size in sizes}
        labels = load_split(sets[largest], "test", ["material_label"])["material_label"]
        labels = torch.from_numpy(labels.astype(np.int64))

    rows, per_class = [], []
    for name in [*models, "oidn_high"]:
        scores, splits = {}, {}
        for size, data in sets.items():
            frames = frames_on(name, models, data)
            scores[size] = error_scales(*frames)
            if args.noise_split:
                splits[size] = noise_split(name, models, frames, data, resampled[size])
        first = scores[sizes[0]]
        for size in sizes:
            score = scores[size]
            row = [
                name,
                str(size),
                f"{score['psnr']:.2f}",
                f"{score['smooth'] * 1e3:.3f}",
                f"{score['fine'] * 1e3:.3f}",
                f"{score['smooth'] / first['smooth']:.2f}",
                f"{score['fine'] / first['fine']:.2f}",
            ]
            if args.noise_split:
                row += [f"{float(splits[size][part].mean()) * 1e3:.3f}" for part in _PARTS[1:]]
            rows.append(row)
        if args.noise_split:
            per_class += class_rows(name, splits[largest], labels)
    ratios = [f"smooth / {sizes[0]}", f"fine / {sizes[0]}"]
    noise = ["variance x1e3", "reference noise x1e3", "bias^2 x1e3"] if args.noise_split else []
    print(format_table(["model", "size", "PSNR", "smooth MSE x1e3", "fine MSE x1e3", *ratios, *noise], rows))
    if args.noise_split:
        print(f"\nPer material class at {largest} px (share of the frames' mean squared error, x1e4):")
        parts = ["MSE", "variance", "reference noise", "bias^2"]
        print(format_table(["model", "class", "pixels", *parts], per_class))


if __name__ == "__main__":
    main()
