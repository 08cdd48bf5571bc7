"""Inference latency per published model: PyTorch eager, ONNX Runtime fp32 and int8, with OIDN at the same size as
the reference a user would otherwise run.

    python benchmarks/bench_inference.py --hub PIPELINE_DIR/hub [--sizes 256x256 1280x720 1920x1080] [--repeats 3]
        [--models v2_ultra v2_ultra_ray_reconstruction]

Median ms per frame over `--repeats` timed runs after one warm-up, batch 1, on this machine's threads. Inputs are
random packed G-buffers of each model's channel count (latency does not depend on content); the PSNR change of int8
comes from the folder's `evaluation.json` (the test split, int8 against fp32 ONNX on the same frames).
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from uruk_hf import UrukORTRenderer
from uruk_hf.catalog import iter_models
from uruk_hf.data.rendering.baselines import oidn_denoise
from uruk_hf.tables import format_table

PUBLISHED_MODELS = [model for _, model in iter_models(published_only=True)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", required=True, help="a folder built by `uruk publish build` (or `uruk pipeline`)")
    parser.add_argument("--sizes", nargs="+", default=["256x256", "1280x720"], help="WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=None, help="model keys (default: every published model)")
    return parser.parse_args()


def median_ms(repeats: int, function, *arguments) -> float:
    """Median milliseconds of `function(*arguments)` over `repeats` runs after one warm-up."""
    function(*arguments)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*arguments)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e3


def main() -> None:
    from transformers import AutoModel

    args = parse_args()
    hub = Path(args.hub)
    evaluation = json.loads((hub / "evaluation.json").read_text())
    sizes = [tuple(int(value) for value in size.split("x")) for size in args.sizes]
    rows = []
    for width, height in sizes:
        rng = np.random.default_rng(0)
        noisy = rng.random((height, width, 3), dtype=np.float32)
        albedo = rng.random((height, width, 3), dtype=np.float32)
        normal = rng.normal(size=(height, width, 3)).astype(np.float32)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        oidn_ms = median_ms(args.repeats, oidn_denoise, noisy, albedo, normal)
        for entry in PUBLISHED_MODELS:
            if args.models is not None and entry.key not in args.models:
                continue
            folder = hub / entry.subfolder
            if not (folder / "model.onnx").is_file():
                continue
            model = AutoModel.from_pretrained(folder).eval()
            pixel_values = torch.rand(1, model.config.num_channels, height, width)
            with torch.inference_mode():
                eager = median_ms(args.repeats, model, pixel_values)
            fp32 = UrukORTRenderer.from_pretrained(folder)
            int8 = UrukORTRenderer.from_pretrained(folder, file_name="model.int8.onnx")
            array = pixel_values.numpy()
            ort_fp32 = median_ms(args.repeats, fp32, array)
            ort_int8 = median_ms(args.repeats, int8, array)
            change = evaluation["models"][entry.key]["int8_change"]["psnr"]
            rows.append(
                [
                    entry.key,
                    f"{width}x{height}",
                    f"{eager:.1f}",
                    f"{ort_fp32:.1f}",
                    f"{ort_int8:.1f}",
                    f"{eager / ort_fp32:.2f}x",
                    f"{eager / ort_int8:.2f}x",
                    f"{change:+.2f}",
                    f"{oidn_ms:.1f}",
                    f"{oidn_ms / ort_fp32:.2f}x",
                ]
            )
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}, batch 1, median of {args.repeats}")
    headers = ["model", "size", "eager ms", "ORT fp32 ms", "ORT int8 ms", "fp32 speedup", "int8 speedup",
               "int8 dPSNR (test)", "OIDN ms", "OIDN/ORT fp32"]  # fmt: skip
    print(format_table(headers, rows))


if __name__ == "__main__":
    main()
