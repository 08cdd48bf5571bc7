"""Model cost table: parameters, GMACs per megapixel and CPU eager latency for every published model.

    python benchmarks/bench_models.py [--preset full] [--repeats 5] [--threads N]

Latency is the median of `--repeats` timed forward passes after one warm-up, in `torch.inference_mode()`, at
256x256 and 1280x720, in the default (NCHW) memory format and in `torch.channels_last` (NHWC, which oneDNN's
convolutions prefer on CPU); the thread count is printed. Ratios compare each teacher with its student.
"""

import argparse
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from uruk_hf.catalog import count_parameters, iter_models
from uruk_hf.tables import format_table

PUBLISHED_MODELS = [model for _, model in iter_models(published_only=True)]

SIZES = [(256, 256), (720, 1280)]
MEMORY_FORMATS = {"nchw": torch.contiguous_format, "nhwc": torch.channels_last}
PAIRS = [("v2_ultra_teacher", "v2_ultra"), ("ws5_cinematic_renderer", "ws5_student")]


def gmacs_per_megapixel(model_class, config) -> float:
    """Multiply-accumulates of one forward pass per megapixel, counted on the meta device at 256x256."""
    with torch.device("meta"):
        model = model_class(config)
        inputs = torch.empty(1, config.num_channels, 256, 256)
        with FlopCounterMode(display=False) as counter:
            model(inputs)
    return counter.get_total_flops() / 2 / 1e9 / (256 * 256 / 1e6)


def median_latency_ms(model, num_channels: int, height: int, width: int, repeats: int, memory_format) -> float:
    model = model.to(memory_format=memory_format)
    inputs = torch.rand(1, num_channels, height, width).to(memory_format=memory_format)
    timings = []
    with torch.inference_mode():
        model(inputs)
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs)
            timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="full", choices=["tiny", "quick", "full"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"preset {args.preset}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats} runs, fp32 eager"
    )

    results = {}
    for published in PUBLISHED_MODELS:
        config = published.config(args.preset)
        torch.manual_seed(0)
        model = published.model_class(config).eval()
        row = {
            "params": count_parameters(published.model_class, config),
            "gmacs": gmacs_per_megapixel(published.model_class, config),
        }
        for format_name, memory_format in MEMORY_FORMATS.items():
            for height, width in SIZES:
                row[f"{width}x{height} {format_name}"] = median_latency_ms(
                    model, config.num_channels, height, width, args.repeats, memory_format
                )
        results[published.key] = row
        del model

    size_columns = [f"{width}x{height} {name}" for name in MEMORY_FORMATS for height, width in SIZES]
    header = ["model", "params", "GMACs/MP", *[f"ms @ {size}" for size in size_columns]]
    lines = []
    for key, row in results.items():
        lines.append(
            [key, f"{row['params'] / 1e6:.2f}M", f"{row['gmacs']:.1f}", *[f"{row[size]:.1f}" for size in size_columns]]
        )
    print(format_table(header, lines))
    print()
    ratio_header = ["teacher / student", "params", "GMACs", *[f"latency @ {size}" for size in size_columns]]
    ratios = []
    for teacher, student in PAIRS:
        t, s = results[teacher], results[student]
        ratios.append(
            [
                f"{teacher} / {student}",
                f"{t['params'] / s['params']:.2f}x",
                f"{t['gmacs'] / s['gmacs']:.2f}x",
                *[f"{t[size] / s[size]:.2f}x" for size in size_columns],
            ]
        )
    print(format_table(ratio_header, ratios))


if __name__ == "__main__":
    main()
