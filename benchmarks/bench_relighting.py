"""WS4 against re-rendering: the path-traced re-render at the quality the model reaches, and its time.

    python benchmarks/bench_relighting.py --run PIPELINE_DIR [--data DATA_DIR] [--size 256] [--spp 1 2 4 ...]

Quality: every test view is rebuilt from the dataset's seed and re-rendered under each target preset by the
dataset's own renderer (Mitsuba, same variant) at each `--spp`, at the dataset's resolution, and scored against the
stored frames over every ordered pair's target (the model's pairs); the **equal-PSNR** re-render is the fewest spp
whose PSNR reaches the exported model's, fp32 and int8 each at its own PSNR (the published folder's
`evaluation.json`: the ONNX files scored on the test split). Time: that re-render at `--size` x `--size` (median
over the test views and presets, each scene traced once untimed first: a game keeps its acceleration structure)
against the model's ONNX Runtime forward pass at the same size (batch 1, median of `--repeats`). The models read
what the camera sees directly of the target's emitters and sky (an engine's emissive and sky passes); that pass in
Mitsuba (a depth-1 path trace at the dataset's spp) is timed too and printed beside.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bench_inference import median_ms

from uruk_hf import UrukORTWS4Remapper
from uruk_hf.catalog import get_family
from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.baselines import to_bchw
from uruk_hf.data.rendering.relighting import LIGHTING_PRESETS, lit_scene, preset_pairs
from uruk_hf.data.rendering.render import ClipRenderer, RenderSettings, select_variant
from uruk_hf.file_utils import path_from_record
from uruk_hf.metrics import frame_metrics
from uruk_hf.tables import format_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a `uruk pipeline` folder that trained the ws4 family")
    parser.add_argument("--data", default=None, help="its relighting dataset (default: from results.json)")
    parser.add_argument("--size", type=int, default=256, help="frame width and height of the timing")
    # Powers of two: a 3-spp render measured 275 ms a call against 35 ms at 2 spp and 48 ms at 4 on llvm_ad_rgb.
    parser.add_argument("--spp", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args()


def rerender(data: Path, spp_list: list[int], size: int) -> tuple[dict, dict, float]:
    """`{spp: PSNR}` of re-renders of every pair's target at the dataset's size, `{spp: ms}` per re-render at
    `size` x `size`, and the median ms of the emission pass there (`ClipRenderer.render_visible_emission`)."""
    generation = json.loads((data / "generation.json").read_text())
    select_variant(generation.get("mitsuba_variant"))
    settings = RenderSettings(**generation["preset"]["render"])
    rows = load_split(data, "test", ["scene_id", *(f"frame_{name}" for name in LIGHTING_PRESETS)])
    small = ClipRenderer(settings)
    large = ClipRenderer(RenderSettings(size, size, ground_truth_spp=settings.ground_truth_spp))
    frames = {spp: {} for spp in spp_list}
    timings = {spp: [] for spp in spp_list}
    emission_timings = []
    for row, view in enumerate(rows["scene_id"].tolist()):
        _, specs, _ = lit_scene(generation["seed"], int(view))
        for number, name in enumerate(LIGHTING_PRESETS):
            seed = 5000 + 7 * int(view) + number
            scene, timed_scene = small.load_scene(specs[name]), large.load_scene(specs[name])
            # Untimed: the first trace of a scene builds its acceleration structure, which a game keeps.
            large.render_path(timed_scene, 0, 1, seed)
            for spp in spp_list:
                frames[spp][(row, number)] = small.render_path(scene, 0, spp, seed)
                if row == 0 and number == 0:
                    large.render_path(timed_scene, 0, spp, seed)  # warm-up (kernel compilation)
                start = time.perf_counter()
                large.render_path(timed_scene, 0, spp, seed)
                timings[spp].append(time.perf_counter() - start)
            large.render_visible_emission(timed_scene, 0, settings.ground_truth_spp, seed)  # its kernel, untimed
            start = time.perf_counter()
            large.render_visible_emission(timed_scene, 0, settings.ground_truth_spp, seed)
            emission_timings.append(time.perf_counter() - start)
    views = len(rows["scene_id"])
    targets = [(row, t) for row in range(views) for _, t in preset_pairs()]
    reference = to_bchw(np.stack([rows[f"frame_{LIGHTING_PRESETS[t]}"][row] for row, t in targets]))
    quality = {
        spp: frame_metrics(to_bchw(np.stack([frames[spp][key] for key in targets])), reference, flip=False)["psnr"]
        for spp in spp_list
    }
    ms = {spp: statistics.median(values) * 1e3 for spp, values in timings.items()}
    return quality, ms, statistics.median(emission_timings) * 1e3


def onnx_ms(folder: Path, file_name: str, size: int, repeats: int) -> float:
    """Median ms of one ONNX Runtime forward pass of `file_name` in `folder` at `size` x `size` (batch 1)."""
    model = UrukORTWS4Remapper.from_pretrained(folder, file_name=file_name)
    pixel_values = torch.rand(1, model.config.num_channels, size, size).numpy()
    condition = np.zeros((1, model.config.condition_size), np.float32)
    condition[0, 0] = condition[0, len(model.config.lighting_presets) + 1] = 1.0
    return median_ms(repeats, model, pixel_values, condition)


def main() -> None:
    args = parse_args()
    run = Path(args.run)
    results = json.loads((run / "results.json").read_text())
    data = Path(args.data) if args.data else path_from_record(results["data"]["relighting_pairs"], run)
    quality, ms, emission_ms = rerender(data, sorted(args.spp), args.size)
    size = f"{args.size}x{args.size}"
    print(f"{torch.get_num_threads()} threads; re-render quality at the dataset's size, time at {size}")
    rows = [[f"Mitsuba re-render, {spp} spp", f"{quality[spp]:.2f}", f"{ms[spp]:.1f}", "-", "-"] for spp in quality]
    evaluation = json.loads((run / "hub" / "evaluation.json").read_text())["models"]
    for entry in get_family("ws4").models:
        if entry.key not in evaluation:
            continue
        folder = run / "hub" / entry.subfolder
        for precision, file_name in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
            psnr = evaluation[entry.key][f"onnx_{precision}"]["psnr"]
            model_ms = onnx_ms(folder, file_name, args.size, args.repeats)
            reaching = [spp for spp in quality if quality[spp] >= psnr]
            spp = min(reaching) if reaching else max(quality)
            equal = f"{spp} spp: {ms[spp]:.1f} ms" if reaching else f"not reached within {spp} spp"
            ratio = f"{ms[spp] / model_ms:.2f}x" if reaching else f"> {ms[spp] / model_ms:.2f}x"
            rows.append([f"{entry.key} (ORT {precision})", f"{psnr:.2f}", f"{model_ms:.1f}", equal, ratio])
    print(format_table(["method", "PSNR (dB)", "ms/frame", "equal-PSNR re-render", "re-render / model time"], rows))
    print(
        f"The models' emission input (emitters and sky seen directly) in Mitsuba at {size}: {emission_ms:.1f} ms "
        "per frame (a depth-1 path trace at the dataset's spp; not in the models' times above)."
    )


if __name__ == "__main__":
    main()
