"""WS6 against spending the same time on rendering: equal-time and equal-quality full-resolution path tracing.

    python benchmarks/bench_upscaling.py --run PIPELINE_DIR [--data DATA_DIR] [--spp 1 2 4 8 16 32 64 128]

On the test split of the renderers' dataset, every test scene is rebuilt from the dataset's seed and rendered
again by the dataset's own renderer (Mitsuba, same variant and settings): the half-resolution 4-spp render WS6
takes, and full-resolution path traces at each `--spp`. Each is timed per frame (median over the test frames after
one warm-up render per setting; each scene traced once untimed first, as a game keeps its acceleration
structure) and scored against the stored ground truth with the project's metrics. A WS6
model's time is the half-resolution render plus its ONNX Runtime fp32 forward pass at the same size (batch 1); its
quality is the pipeline's test-split evaluation (`results.json`, its own history fed back as in a game).

Printed: one row per full-resolution spp and per WS6 model; for each model the **equal-time** render (the largest
spp whose time fits in the model's time) and the **time to quality** (the fewest spp whose PSNR reaches the model's,
and how many times longer it takes). Renders of a few milliseconds are dominated by fixed per-call costs, which this
measures as they are on this machine.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bench_inference import median_ms

from uruk_hf import UrukORTRenderer
from uruk_hf.catalog import get_family
from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.baselines import to_bchw
from uruk_hf.data.rendering.render import ClipRenderer, RenderSettings, select_variant
from uruk_hf.data.rendering.scenes import generate_scene
from uruk_hf.file_utils import path_from_record
from uruk_hf.metrics import frame_metrics
from uruk_hf.tables import format_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a `uruk pipeline` folder that trained the ws6 family")
    parser.add_argument("--data", default=None, help="its renderers' dataset (default: from results.json)")
    parser.add_argument("--spp", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=50, help="timed ONNX Runtime runs per model")
    return parser.parse_args()


def render_test_frames(data: Path, spp_list: list[int]) -> tuple[dict, dict, np.ndarray]:
    """Re-renders the test frames: `{spp: (N, H, W, 3)}` full-resolution path traces, `{spp: ms per frame}`, the
    half-resolution render's ms per frame under `"half"`, and the `(N, H, W, 3)` ground truth."""
    generation = json.loads((data / "generation.json").read_text())
    preset = generation["preset"]
    select_variant(generation.get("mitsuba_variant"))
    settings = RenderSettings(**preset["render"])
    rows = load_split(data, "test", ["scene_id", "frame_index", "ground_truth"])
    renderer = ClipRenderer(settings)
    settings_list = [(spp, 1) for spp in spp_list] + [(settings.half_resolution_spp, 2)]
    frames = {setting: [] for setting in settings_list}
    timings = {setting: [] for setting in settings_list}
    warmed = set()
    for clip in sorted(set(rows["scene_id"].tolist())):
        spec = generate_scene(generation["seed"], int(clip), preset["frames_per_clip"])
        scene = renderer.load_scene(spec, frame_divisors=(1, 2))
        renderer.render_path(scene, 0, 1, 0)  # untimed: the first trace builds the acceleration structure
        for frame in rows["frame_index"][rows["scene_id"] == clip].tolist():
            for spp, divisor in settings_list:
                seed = 1000 + 7 * int(clip) + frame
                if (spp, divisor) not in warmed:
                    renderer.render_path(scene, frame, spp, seed, divisor)
                    warmed.add((spp, divisor))
                start = time.perf_counter()
                frames[(spp, divisor)].append(renderer.render_path(scene, frame, spp, seed, divisor))
                timings[(spp, divisor)].append(time.perf_counter() - start)
    order = np.lexsort((rows["frame_index"], rows["scene_id"]))
    truth = rows["ground_truth"][order].astype(np.float32)
    full = {spp: np.stack(frames[(spp, 1)]) for spp in spp_list}
    ms = {spp: statistics.median(timings[(spp, 1)]) * 1e3 for spp in spp_list}
    ms["half"] = statistics.median(timings[(settings.half_resolution_spp, 2)]) * 1e3
    return full, ms, truth


def onnx_ms(folder: Path, size: tuple[int, int], repeats: int) -> float:
    """Median ms of one ONNX Runtime fp32 forward pass of the model in `folder` at `size` (batch 1)."""
    model = UrukORTRenderer.from_pretrained(folder)
    pixel_values = torch.rand(1, model.config.num_channels, *size).numpy()
    return median_ms(repeats, model, pixel_values)


def main() -> None:
    args = parse_args()
    run = Path(args.run)
    results = json.loads((run / "results.json").read_text())
    data = Path(args.data) if args.data else path_from_record(results["data"]["gbuffer_clips"], run)
    full, ms, truth = render_test_frames(data, sorted(args.spp))
    target = to_bchw(truth)
    quality = {spp: frame_metrics(to_bchw(frames), target)["psnr"] for spp, frames in full.items()}
    print(f"{len(truth)} test frames of {truth.shape[2]}x{truth.shape[1]}, {torch.get_num_threads()} threads")
    rows = [[f"path tracing, {spp} spp", f"{ms[spp]:.1f}", f"{quality[spp]:.2f}", "-", "-"] for spp in quality]
    for entry in get_family("ws6").models:
        if entry.key not in results["models"]:
            continue
        model_ms = ms["half"] + onnx_ms(run / "hub" / entry.subfolder, truth.shape[1:3], args.repeats)
        psnr = results["models"][entry.key]["psnr"]
        fitting = [spp for spp in quality if ms[spp] <= model_ms]
        equal_time = f"{max(fitting)} spp: {quality[max(fitting)]:.2f} dB" if fitting else "none fits"
        reaching = [spp for spp in quality if quality[spp] >= psnr]
        if reaching:
            spp = min(reaching)
            to_quality = f"{spp} spp: {ms[spp]:.1f} ms ({ms[spp] / model_ms:.1f}x)"
        else:
            to_quality = f"not within {max(quality)} spp"
        label = f"{entry.key} (half-res 4 spp + ORT fp32)"
        rows.append([label, f"{model_ms:.1f}", f"{psnr:.2f}", equal_time, to_quality])
    print(format_table(["method", "ms/frame", "PSNR (dB)", "equal-time render", "time to its quality"], rows))
    print(f"half-resolution 4-spp render alone: {ms['half']:.1f} ms/frame")


if __name__ == "__main__":
    main()
