"""V2-Ultra as a ray-reconstruction denoiser against Intel Open Image Denoise, on the same frames and the same input.

Both see one path-traced sample per pixel (`path_1spp`) and the clean albedo and normal buffers; V2-Ultra reads them
in `RAY_RECONSTRUCTION_LAYOUT` (the V2 layout with `path_1spp` in place of `direct`) plus the rest of the G-buffer
and its own warped previous output. The script trains the model for `--time-budget` seconds (L1 + MS-SSIM on
tone-mapped frames, the Accelerate stage loop: warm-up and cosine annealing over the budget, validation, plateau
handling and best-checkpoint selection) or loads `--model`, then evaluates both on the test split and prints all
metrics side by side.

    python benchmarks/bench_quality.py --data DATA_DIR --output RUN_DIR [--time-budget 600] [--role teacher]
    python benchmarks/bench_quality.py --data DATA_DIR --model RUN_DIR/model
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.baselines import oidn_frames
from uruk_hf.metrics import frame_metrics
from uruk_hf.schema import RAY_RECONSTRUCTION_LAYOUT
from uruk_hf.tables import format_table
from uruk_hf.training.data import UrukClipDataset
from uruk_hf.training.losses import FRAME_LOSS
from uruk_hf.training.progress import StageSettings
from uruk_hf.training.stage import save_final_model, train_stage
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a folder made by `uruk data generate`")
    parser.add_argument("--output", default=None, help="training run folder (required unless --model)")
    parser.add_argument("--model", default=None, help="evaluate this trained model folder instead of training")
    parser.add_argument("--preset", default="quick", choices=["tiny", "quick", "full"])
    parser.add_argument("--role", default="teacher", choices=["teacher", "student"])
    parser.add_argument("--time-budget", type=float, default=600.0, help="training seconds")
    # The rate the lifecycle's Calibration picks for every family at the quick preset (2e-3 gave 30.23 dB here).
    parser.add_argument("--learning-rate", type=float, default=4e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument(
        "--kernel-dilations", default="1", help="comma-separated dilations of the frame head's filter (e.g. 1,3)"
    )
    return parser.parse_args()


def train(args) -> tuple[UrukV2Ultra, dict]:
    config = UrukV2UltraConfig.from_preset(
        args.preset,
        role=args.role,
        input_buffers=RAY_RECONSTRUCTION_LAYOUT,
        cheap_render_buffer="path_1spp",
        frame_kernel_dilations=[int(value) for value in args.kernel_dilations.split(",")],
    )
    torch.manual_seed(0)
    model = UrukV2Ultra(config)
    task = FrameReconstructionTask(config)
    settings = StageSettings(
        "ray_reconstruction",
        learning_rate=args.learning_rate,
        warmup_steps=25,
        max_steps=1_000_000,
        eval_every=args.eval_every,
        patience=3,
        time_budget_s=args.time_budget,
        weights=FRAME_LOSS,
    )
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    train_set = UrukClipDataset(args.data, "train", config.input_buffers)
    validation = UrukClipDataset(args.data, "validation", config.input_buffers)
    output = Path(args.output)
    record = train_stage(accelerator, model, task, train_set, validation, settings, output / "ray_reconstruction")
    save_final_model(accelerator, model, record, output / "model", task)
    return model, record


def main() -> None:
    args = parse_args()
    if args.model is None and args.output is None:
        raise SystemExit("Pass --output (to train) or --model (to evaluate a trained model).")
    record = None
    if args.model:
        model = UrukV2Ultra.from_pretrained(args.model)
    else:
        model, record = train(args)
    if model.config.cheap_render_buffer != "path_1spp":
        raise SystemExit(f"{args.model} reads {model.config.cheap_render_buffer!r}, not the ray-reconstruction input.")
    model.eval()
    task = FrameReconstructionTask(model.config)
    test = task.dataset(args.data, "test")
    ours = task.evaluate(model, test, full=True)

    rows = load_split(args.data, "test", ["path_1spp", "albedo", "normal", "ground_truth"])
    target = torch.from_numpy(rows["ground_truth"].astype(np.float32)).permute(0, 3, 1, 2)
    denoised, oidn_ms = oidn_frames(rows)
    oidn = {**frame_metrics(torch.from_numpy(denoised).permute(0, 3, 1, 2), target), "ms_per_frame": oidn_ms}
    noisy = frame_metrics(torch.from_numpy(rows["path_1spp"].astype(np.float32)).permute(0, 3, 1, 2), target)

    table = []
    for name, metrics, params in (
        (f"V2-Ultra ({args.preset}/{model.config.role}, ray reconstruction)", ours, model.num_parameters()),
        ("OIDN 2 (pyoidn, HDR, albedo + normal)", oidn, None),
        ("path_1spp (input)", noisy, None),
    ):
        table.append(
            [
                name,
                "-" if params is None else f"{params / 1e6:.2f}M",
                f"{metrics['psnr']:.2f}",
                f"{metrics['ssim']:.4f}",
                f"{metrics['ms_ssim']:.4f}",
                f"{metrics['flip']:.4f}",
                f"{metrics['ms_per_frame']:.1f}" if "ms_per_frame" in metrics else "-",
            ]
        )
    height, width = rows["ground_truth"].shape[1:3]
    print(f"Test split: {len(target)} frames at {width}x{height}, {torch.get_num_threads()} threads.")
    print(format_table(["method", "params", "PSNR", "SSIM", "MS-SSIM", "FLIP", "ms/frame"], table))
    print(
        f"V2-Ultra - OIDN: {ours['psnr'] - oidn['psnr']:+.2f} dB PSNR, {ours['ssim'] - oidn['ssim']:+.4f} SSIM, "
        f"{ours['flip'] - oidn['flip']:+.4f} FLIP (lower FLIP is better)"
    )
    if record is not None:
        print(
            f"Training: {record['steps']} steps in {record['seconds']:.0f} s ({record['stop_reason']}), best "
            f"validation PSNR {record['best']['psnr']:.2f} dB at step {record['best_step']}."
        )
        summary = {"v2_ultra": ours, "oidn": oidn, "path_1spp": noisy, "training": {"steps": record["steps"],
                   "seconds": record["seconds"], "best_step": record["best_step"]}, "at": time.time()}  # fmt: skip
        (Path(args.output) / "bench_quality.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
