"""Finalizing a generated dataset folder: baselines, an example grid and the dataset card (`README.md`)."""

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ...file_utils import atomic_path
from ...models.gbuffer_renderer.processing_gbuffer import MATERIAL_PALETTE
from ...schema import BUFFER_SPECS, MATERIAL_CLASSES
from ...tonemap import tonemap
from ..folder import check_complete, dataset_card, load_split
from .baselines import FRAME_BASELINES, MATERIAL_BASELINES, compute_baselines, oidn_denoise
from .generator import STORED_BUFFERS

__all__ = ["baselines_table", "finalize_dataset", "write_example_grid"]

_FRAME_COLUMNS = ("psnr", "ssim", "ms_ssim", "flip")
_MATERIAL_COLUMNS = ("material_accuracy", "material_miou", "material_balanced_accuracy")


def baselines_table(baselines: dict) -> str:
    """The baselines as a Markdown table (frame metrics, then material metrics)."""
    lines = ["| baseline | PSNR (dB) | SSIM | MS-SSIM | FLIP | ms/frame |", "|---|---|---|---|---|---|"]
    for key in FRAME_BASELINES:
        if key in baselines:
            row = baselines[key]
            cells = [f"{row['psnr']:.2f}", f"{row['ssim']:.4f}", f"{row['ms_ssim']:.4f}", f"{row['flip']:.4f}"]
            timing = f"{row['ms_per_frame']:.1f}" if "ms_per_frame" in row else "-"
            lines.append(f"| {key} | " + " | ".join(cells) + f" | {timing} |")
    lines += ["", "| baseline | material accuracy | mean IoU | class-balanced accuracy |", "|---|---|---|---|"]
    for key in MATERIAL_BASELINES:
        row = baselines[key]
        lines.append(f"| {key} | " + " | ".join(f"{100 * row[column]:.1f}%" for column in _MATERIAL_COLUMNS) + " |")
    return "\n".join(lines)


def _crop_line(preset: dict) -> str:
    """The card's sentence on crop scales (`DataPreset.crop_scales`); empty when every clip is uncropped."""
    scales = [float(scale) for scale in preset.get("crop_scales", [1.0])]
    if set(scales) == {1.0}:
        return ""
    shares = ", ".join(f"{scale:g}x for {scales.count(scale) / len(scales):.0%}" for scale in sorted(set(scales)))
    return (
        f"\n- Clips are centre crops of renders larger by a scale drawn per clip ({shares} of the clips): the field"
        "\n  of view is narrowed to match, so a 2x crop shows surfaces at twice the pixels, as a 2x render would."
    )


def _display(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float32)
    if values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    return (tonemap(torch.from_numpy(values)).numpy() * 255).astype(np.uint8)


def write_example_grid(folder: Path, path: Path, frames: int = 2, scale: int = 3) -> None:
    """A PNG grid of the first `frames` test frames: inputs, the OIDN baseline, the ground truth and labels."""
    rows = load_split(folder, "test")
    panels = {
        "albedo": lambda r: _display(r["albedo"]),
        "normal": lambda r: ((np.asarray(r["normal"], np.float32) * 0.5 + 0.5) * 255).astype(np.uint8),
        "depth": lambda r: _display(np.asarray(r["depth"], np.float32) / 4.0),
        "direct": lambda r: _display(r["direct"]),
        "path_1spp": lambda r: _display(r["path_1spp"]),
        "OIDN(1spp)": lambda r: _display(oidn_denoise(r["path_1spp"], r["albedo"], r["normal"])),
        "ground truth": lambda r: _display(r["ground_truth"]),
        "material": lambda r: np.where(
            (r["material_label"] >= 0)[..., None], MATERIAL_PALETTE[np.maximum(r["material_label"], 0)], 0
        ).astype(np.uint8),
        "ao": lambda r: (np.repeat(np.asarray(r["ao"], np.float32), 3, -1) * 255).astype(np.uint8),
        "shadow": lambda r: (np.repeat(np.asarray(r["shadow"], np.float32), 3, -1) * 255).astype(np.uint8),
        "motion": lambda r: (np.clip(np.abs(np.asarray(r["motion"], np.float32)[..., [0, 1, 1]]) * 64, 0, 255)).astype(
            np.uint8
        ),
        "history_valid": lambda r: (np.repeat(np.asarray(r["history_valid"], np.float32), 3, -1) * 255).astype(
            np.uint8
        ),
    }
    count = min(frames, len(rows["ground_truth"]))
    height, width = rows["ground_truth"].shape[1:3]
    cell_w, cell_h, label_h = width * scale, height * scale, 12
    grid = Image.new("RGB", (cell_w * len(panels), (cell_h + label_h) * count), "white")
    draw = ImageDraw.Draw(grid)
    for row_index in range(count):
        frame = {name: values[row_index] for name, values in rows.items()}
        for column, (name, make) in enumerate(panels.items()):
            image = Image.fromarray(make(frame)).resize((cell_w, cell_h), Image.NEAREST)
            top = row_index * (cell_h + label_h)
            grid.paste(image, (column * cell_w, top + label_h))
            draw.text((column * cell_w + 2, top), name, fill="black")
    with atomic_path(path) as temporary:
        grid.save(temporary, format="PNG")


def _card_text(folder: Path, record: dict, counts: dict, baselines: dict, timings: list[dict]) -> str:
    preset = record["preset"]
    render = preset["render"]
    features = "\n".join(
        f"| `{name}` | ({render['height']}, {render['width']}, {BUFFER_SPECS[name].channels}) float16 | "
        f"{BUFFER_SPECS[name].description} |"
        for name in STORED_BUFFERS
    )
    render_seconds = sum(t["render_seconds"] for t in timings)
    total_seconds = sum(t["seconds"] for t in timings)
    samples = sum(t["render_samples"] for t in timings)
    size = f"({render['height']}, {render['width']}"
    classes = ", ".join(f"{index} {name}" for index, name in enumerate(MATERIAL_CLASSES))
    extra_rows = "\n".join(
        [
            f"| `ground_truth` | {size}, 3) float16 | path-traced, {render['ground_truth_spp']} spp, linear HDR |",
            f"| `ground_truth_independent` | {size}, 3) float16 | a second render at the same spp (test split) |",
            f"| `material_label` | {size}) int16 | semantic class ({classes}); -100 on background and lights |",
            "| `scene_id`, `frame_index`, `scene_kind` | int32, int32, string | clip, frame in clip, scene kind |",
        ]
    )
    split_counts = ", ".join(f"{split} {count}" for split, count in counts.items())
    content = f"""# Uruk procedural G-buffer renders ({preset["name"]} preset)

Procedural 3D scenes (rooms, large halls and long corridors lit by area lights on ceilings and walls, open ground
under a sun and sky or at night under small lamps; glowing props, glossy and metal-dominated scenes, thin poles and
panels, fields of view from 30 to 90 degrees, an exposure spread of about 2.5 stops) rendered by
Mitsuba {record["mitsuba_version"]} into every input buffer of the Uruk renderers, with a converged path-traced
frame as ground truth and a semantic material class per pixel. Generated by `uruk_hf` (generator
{record["generator_version"]}):

```bash
uruk data generate --preset {preset["name"]} --seed {record["seed"]} --output DIR
```

Load it with `datasets.load_dataset("DIR")`. The same seed and preset give byte-identical arrays **for one Mitsuba
variant**; this folder was rendered with **`{record["mitsuba_variant"]}`**.

## Contents

- {sum(counts.values())} frames of {render["width"]}x{render["height"]} ({split_counts}), {preset["num_clips"]}
  clips of {preset["frames_per_clip"]} consecutive frames, one procedural scene per clip; splits are disjoint by
  scene.{_crop_line(preset)}
- Ground truth: `path` integrator, {render["ground_truth_spp"]} spp, box filter. `direct`: `direct` integrator,
  {render["direct_spp"]} spp. `path_1spp`: 1 spp. AO: {render["ao_samples"]} rays per pixel within 1 m. Shadow:
  {render["shadow_samples"]} rays per pixel to the strongest light.
- The test split also holds `ground_truth_independent`, a second render at the same spp with another seed, for
  the ground truth's noise floor (`has_independent_ground_truth`).
- Render time: {render_seconds:.0f} s inside `mi.render` of {total_seconds:.0f} s generating
  ({samples / max(render_seconds, 1e-9) / 1e6:.2f} M samples/s), summed over chunks.

| column | shape, dtype | meaning |
|---|---|---|
{features}
{extra_rows}

`history` is not stored: a renderer's history input is its own previous output, filled in during training.

## Baselines ({baselines["split"]} split, {baselines["frames"]} frames)

Frames are compared after the tone map `x / (1 + x)` and the sRGB curve (`data_range=1`); materials on pixels
with a class. Computed by `uruk data baselines DIR`.

{baselines_table(baselines["baselines"])}

## Examples

![examples](examples.png)
"""
    return dataset_card(
        content,
        counts,
        pretty_name="Uruk procedural G-buffer renders",
        task_categories=["image-to-image"],
        tags=["neural-rendering", "g-buffer", "mitsuba", "synthetic", "uruk"],
        size_categories=["n<1K"] if sum(counts.values()) < 1000 else ["1K<n<10K"],
    )


def finalize_dataset(folder: str | Path, baselines: dict | None = None) -> dict:
    """Computes the baselines (unless given), writes `baselines.json`, `examples.png` and the dataset card
    `README.md`; returns the baselines."""
    folder = Path(folder)
    record = check_complete(folder)
    if baselines is None:
        baselines = compute_baselines(folder, seed=record["seed"])
    with atomic_path(folder / "baselines.json") as temporary:
        temporary.write_text(json.dumps(baselines, indent=2))
    write_example_grid(folder, folder / "examples.png")
    frames_per_clip = record["preset"]["frames_per_clip"]
    clips_per_chunk = record["preset"]["clips_per_chunk"]
    counts = {}
    for chunk, split in enumerate(record["splits"]):
        clips = min(clips_per_chunk, record["preset"]["num_clips"] - chunk * clips_per_chunk)
        counts[split] = counts.get(split, 0) + clips * frames_per_clip
    counts = {split: counts[split] for split in ("train", "validation", "test")}
    timings = [json.loads(path.read_text()) for path in sorted((folder / "logs").glob("chunk-*.json"))]
    with atomic_path(folder / "README.md") as temporary:
        temporary.write_text(_card_text(folder, record, counts, baselines, timings))
    return baselines
