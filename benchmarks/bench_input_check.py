"""What the NaN/Inf scan of `pixel_values` costs: eager forward with and without it, and the scan alone, per
published renderer and size; the same scan in front of an ONNX Runtime session is the `scan` column.

    python benchmarks/bench_input_check.py [--sizes 256x256 1920x1080] [--preset full] [--repeats 3]

Random weights (latency does not depend on them) at `--preset`; random finite inputs, so the scan takes its fast
path (one sum); the slow path (per-channel counts) runs only when there is something to report. Median ms over
`--repeats` runs after one warm-up, batch 1, on this machine's threads.
"""

import argparse

import torch
from bench_inference import median_ms

from uruk_hf.catalog import iter_models
from uruk_hf.models.gbuffer_renderer.modeling_gbuffer_renderer import check_pixel_values_finite, model_fed_inputs
from uruk_hf.tables import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256x256", "1920x1080"], help="WIDTHxHEIGHT")
    parser.add_argument("--preset", default="full", choices=["tiny", "quick", "full"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["v2_ultra"], help="published model keys")
    args = parser.parse_args()

    def unchecked(model, pixel_values):
        with model_fed_inputs():
            return model(pixel_values)

    rows = []
    for _, published in iter_models(published_only=True):
        if published.key not in args.models:
            continue
        torch.manual_seed(0)
        model = published.model_class(published.config(args.preset)).eval()
        for size in args.sizes:
            width, height = (int(value) for value in size.split("x"))
            pixel_values = torch.rand(1, model.config.num_channels, height, width)
            with torch.inference_mode():
                checked_ms = median_ms(args.repeats, model, pixel_values)
                unchecked_ms = median_ms(args.repeats, unchecked, model, pixel_values)
                scan_ms = median_ms(args.repeats, check_pixel_values_finite, pixel_values, model.config)
            rows.append(
                [
                    published.key,
                    args.preset,
                    size,
                    f"{unchecked_ms:.1f}",
                    f"{checked_ms:.1f}",
                    f"{scan_ms:.2f}",
                    f"{scan_ms / unchecked_ms:.2%}",
                ]
            )
    print(f"{torch.get_num_threads()} threads")
    headers = ["model", "preset", "size", "forward ms (no scan)", "forward ms (scan)", "scan ms", "scan / forward"]
    print(format_table(headers, rows))


if __name__ == "__main__":
    main()
