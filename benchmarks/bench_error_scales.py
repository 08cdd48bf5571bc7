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
"""

import argparse
from pathlib import Path

import torch
from torch.nn import functional as F

from uruk_hf.catalog import model_entry_for_type
from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.baselines import oidn_frames, to_bchw
from uruk_hf.generalization import run_models
from uruk_hf.tables import format_table
from uruk_hf.tonemap import tonemap
from uruk_hf.training.evaluation import unrolled_batches


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a `uruk pipeline` folder on which `uruk evaluate` ran")
    parser.add_argument("--model", action="append", default=[], help="NAME=FOLDER: also this model (repeatable)")
    parser.add_argument("--sizes", default="64,128,256", help="hand-made set sizes, comma-separated")
    parser.add_argument("--scenes", default=None, help="the rendered hand-made sets (default RUN/generalization)")
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

    rows = []
    for name in [*models, "oidn_high"]:
        scores = {}
        for size, data in sets.items():
            frames = oidn_and_targets(data) if name == "oidn_high" else model_frames(models[name], data)
            scores[size] = error_scales(*frames)
        first = scores[sizes[0]]
        for size in sizes:
            score = scores[size]
            rows.append(
                [
                    name,
                    str(size),
                    f"{score['psnr']:.2f}",
                    f"{score['smooth'] * 1e3:.3f}",
                    f"{score['fine'] * 1e3:.3f}",
                    f"{score['smooth'] / first['smooth']:.2f}",
                    f"{score['fine'] / first['fine']:.2f}",
                ]
            )
    ratios = [f"smooth / {sizes[0]}", f"fine / {sizes[0]}"]
    print(format_table(["model", "size", "PSNR", "smooth MSE x1e3", "fine MSE x1e3", *ratios], rows))


if __name__ == "__main__":
    main()
