"""Training throughput: pixels per second per family at the quick and full model sizes, 2 processes against 1,
and the Accelerate stage loop's overhead over a bare PyTorch loop on the same batches.

    python benchmarks/bench_training.py --data DATA_DIR [--steps 20] [--skip-processes]

Each figure is one run on this machine: a training step is the recurrent unroll of `--batch-size` clips (every
frame of each clip), the loss, backward and an AdamW step; pixels/s counts the frames' pixels of those clips.
The process comparison runs `training/train_ws5.py` with plain `python` (all threads), through `accelerate launch`
with one process, and with `--multi_gpu --num_processes 2` (two gloo CPU processes; accelerate gives each process
one thread), and reads the steps and training seconds (validation and checkpoints excluded) from each record.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from uruk_hf.catalog import model_entry
from uruk_hf.tables import format_table
from uruk_hf.training.data import UrukClipDataset
from uruk_hf.training.losses import FRAME_AND_MATERIAL_LOSS
from uruk_hf.training.progress import StageSettings
from uruk_hf.training.stage import train_stage
from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask

ROOT = Path(__file__).parents[1]
FAMILY_MODELS = [
    "v2_ultra_teacher",
    "v2_ultra",
    "v2_ultra_ray_reconstruction",
    "ws5_cinematic_renderer",
    "ws5_student",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a folder made by `uruk data generate` (quick preset)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement (after 2 warm-up)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--skip-processes", action="store_true", help="skip the 1 vs 2 process comparison")
    return parser.parse_args()


def batches(dataset, task, batch_size: int, count: int) -> list[dict]:
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=task.collate,
        generator=torch.Generator().manual_seed(0),
    )
    out = []
    while len(out) < count:
        out.extend(loader)
    return out[:count]


def pixels(batch: dict) -> int:
    batch_size, frames, _, height, width = batch["pixel_values"].shape
    return batch_size * frames * height * width


def bare_loop_seconds(model, task, steps: list[dict], warmup: int = 2) -> float:
    """Seconds of a plain PyTorch loop (unroll, loss, backward, clip, AdamW step) over `steps` after `warmup`."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for index, batch in enumerate(steps):
        if index == warmup:
            start = time.perf_counter()
        loss = task.loss(task.forward(model, batch), batch, FRAME_AND_MATERIAL_LOSS)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


def throughput_table(args) -> list[list[str]]:
    rows = []
    for key in FAMILY_MODELS:
        entry = model_entry(key)[1]
        for preset in ("quick", "full"):
            config = entry.config(preset)
            torch.manual_seed(0)
            model = entry.model_class(config)
            task = FrameReconstructionTask(config)
            dataset = UrukClipDataset(args.data, "train", config.input_buffers, max_clips=64)
            steps = batches(dataset, task, args.batch_size, args.steps + 2)
            seconds = bare_loop_seconds(model, task, steps)
            rate = sum(pixels(batch) for batch in steps[2:]) / seconds
            rows.append([key, preset, f"{model.num_parameters() / 1e6:.2f}M", f"{args.steps / seconds:.2f}",
                         f"{rate / 1e3:.1f}"])  # fmt: skip
    return rows


def accelerate_overhead(args) -> tuple[float, float, int]:
    """Bare loop vs `train_stage` (Accelerate) on the same batches and model, training time only."""
    entry = model_entry("ws5_cinematic_renderer")[1]
    config = entry.config("quick")
    task = FrameReconstructionTask(config)
    dataset = UrukClipDataset(args.data, "train", config.input_buffers, max_clips=64)
    validation = UrukClipDataset(args.data, "validation", config.input_buffers, max_clips=2)
    total = args.steps + 2
    torch.manual_seed(0)
    same_batches = batches(dataset, task, args.batch_size, total)
    bare_per_step = bare_loop_seconds(entry.model_class(config), task, same_batches, warmup=0) / total
    settings = StageSettings(
        "overhead",
        batch_size=args.batch_size,
        max_steps=total,
        eval_every=total,
        warmup_steps=1,
        patience=100,
        weights=FRAME_AND_MATERIAL_LOSS,  # the bare loop's loss terms
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        record = train_stage(
            Accelerator(cpu=True), entry.model_class(config), task, dataset, validation, settings, folder
        )
    stage_per_step = (record["seconds"] - record["evaluation_seconds"]) / total
    return bare_per_step, stage_per_step, total


def processes_table(args) -> list[list[str]]:
    rows = []
    common = ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launches = {
        f"1 (python, {torch.get_num_threads()} threads)": [sys.executable],
        "1 (accelerate launch)": ["accelerate", "launch", "--num_processes", "1", *common],
        "2 (accelerate launch --multi_gpu)": ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", *common],
    }
    steps = args.steps * 2
    for processes, prefix in launches.items():
        with tempfile.TemporaryDirectory() as output:
            command = [*prefix, str(ROOT / "training" / "train_ws5.py"), "--data", args.data, "--output", output,
                       "--preset", "quick", "--max-steps", str(steps), "--eval-every", str(steps),
                       "--batch-size", str(args.batch_size), "--max-train-clips", "64"]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
            record = json.loads((Path(output) / "reconstruction" / "record.json").read_text())
        seconds = record["seconds"] - record["evaluation_seconds"]
        clips = steps * args.batch_size * record["processes"]
        rows.append([processes, str(steps), f"{seconds:.1f}", f"{clips / seconds:.2f}"])
    return rows


def main() -> None:
    args = parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}, {sys.platform}; batch {args.batch_size} "
          f"clips; data {args.data}")  # fmt: skip
    rows = throughput_table(args)
    print("\nTraining throughput (bare loop, one process):")
    print(format_table(["model", "size", "params", "steps/s", "kpixels/s"], rows))
    bare, stage, steps = accelerate_overhead(args)
    print(f"\nAccelerate stage loop vs bare PyTorch loop (ws5_cinematic_renderer quick, same batches, {steps} steps):")
    print(format_table(
        ["loop", "ms/step", "overhead"],
        [["bare PyTorch", f"{bare * 1e3:.1f}", "-"], ["train_stage (Accelerate)", f"{stage * 1e3:.1f}",
         f"{(stage / bare - 1) * 100:+.1f}%"]],
    ))  # fmt: skip
    if not args.skip_processes:
        rows = processes_table(args)
        print("\ntrain_ws5.py (quick), 1 vs 2 processes on this machine (gloo):")
        print(format_table(["processes", "steps", "train s", "clips/s"], rows))
        print(
            f"2 processes / 1 process throughput: {float(rows[2][3]) / float(rows[1][3]):.2f}x under accelerate "
            f"launch (one thread per process), {float(rows[2][3]) / float(rows[0][3]):.2f}x against plain python"
        )


if __name__ == "__main__":
    main()
