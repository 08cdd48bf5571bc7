"""Data generation throughput: frames/s and samples/s per preset and Mitsuba variant, and our overhead over the
bare `mi.render` calls for the same frames.

    python benchmarks/bench_data.py [--presets tiny quick] [--variants scalar_rgb llvm_ad_rgb] [--clips 16]

Each (preset, variant) runs in a fresh process (the variant is process-wide state and each process compiles its
own kernels, as a user's run would), rendering the first `--clips` clips of the preset into a temporary folder
(no baselines or card). Overhead is (total time - time inside mi.render) / time inside mi.render, where total
time covers scene building, the G-buffer, AO, shadow and motion passes and the Parquet writes.
"""

import argparse
import json
import subprocess
import sys
import tempfile

from uruk_hf.tables import format_table

_WORKER = """
import dataclasses, json, sys, time
from uruk_hf.data.rendering.generator import DATA_PRESETS
from uruk_hf.data.rendering.generator import generate_gbuffer_dataset as generate_dataset
preset = dataclasses.replace(DATA_PRESETS[sys.argv[1]], num_clips=int(sys.argv[3]))
start = time.perf_counter()
summary = generate_dataset(sys.argv[4], preset, seed=0, variant=sys.argv[2], progress=False, finalize=False,
                           num_shards=1, shard_index=0)
summary["wall_seconds"] = time.perf_counter() - start
render = preset.render
summary["samples_per_frame"] = render.width * render.height * (render.ground_truth_spp + render.direct_spp + 1)
summary["resolution"] = f"{render.width}x{render.height}"
print(json.dumps(summary))
"""


def available_variants() -> list[str]:
    """Variants that render on this machine (llvm needs libLLVM >= 16)."""
    from uruk_hf.data.rendering.render import probe_variant

    return ["scalar_rgb"] + [variant for variant in ("llvm_ad_rgb",) if probe_variant(variant)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "quick"])
    parser.add_argument("--variants", nargs="+", default=None, help="default: every variant that runs here")
    parser.add_argument("--clips", type=int, default=16, help="clips rendered per preset (default 16)")
    args = parser.parse_args()
    variants = args.variants or available_variants()
    rows = []
    for preset in args.presets:
        for variant in variants:
            with tempfile.TemporaryDirectory() as folder:
                result = subprocess.run(
                    [sys.executable, "-c", _WORKER, preset, variant, str(args.clips), folder],
                    capture_output=True,
                    text=True,
                    check=True,
                )
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            frames, render = summary["frames_written"], summary["render_seconds"]
            rows.append(
                [
                    preset,
                    summary["resolution"],
                    variant,
                    str(frames),
                    f"{summary['seconds']:.1f}",
                    f"{render:.1f}",
                    f"{frames / summary['seconds']:.2f}",
                    f"{frames * summary['samples_per_frame'] / render / 1e6:.2f}",
                    f"{(summary['seconds'] - render) / render:+.0%}",
                ]
            )
    print(f"{args.clips} clips per preset; seconds exclude process start and the variant probe")
    print(
        format_table(
            [
                "preset",
                "size",
                "variant",
                "frames",
                "total s",
                "mi.render s",
                "frames/s",
                "M samples/s (render)",
                "overhead",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
