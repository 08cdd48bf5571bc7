"""The `gbuffer_clips` dataset kind: procedural scenes rendered by Mitsuba 3 into every input buffer of the
G-buffer renderers, one clip of consecutive frames per scene (DESIGN §3).

`GBUFFER_CLIPS` is the generator `uruk_hf.data.folder.generate_dataset` drives: presets, the row features, the
Mitsuba variant in the determinism record, one clip's rows per item, and the finalizing step (baselines, example
grid, dataset card).
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...schema import BUFFER_SPECS, RELIGHTING_INPUTS
from ..folder import RECORDED_WHEN_SET, DatasetGenerator
from .render import ClipRenderer, RenderSettings, select_variant
from .scenes import SceneSpec, generate_scene

__all__ = ["DATA_PRESETS", "GBUFFER_CLIPS", "STORED_BUFFERS", "DataPreset", "GBufferClipGenerator", "clip_rows"]

STORED_BUFFERS = [name for name in BUFFER_SPECS if name != "history" and name not in RELIGHTING_INPUTS]
"""Buffers stored per frame; `history` is not stored (training fills it from the model's own previous output), and
the relighting inputs belong to the `relighting_pairs` kind (`uruk_hf.data.rendering.relighting`)."""

_FLOAT16_MAX = 65504.0
_CROP_SCALE_STREAM = 7  # the third seed word of the crop-scale draw (the scene's own stream is `[seed, clip]`)


@dataclass(frozen=True)
class DataPreset:
    """How much to generate and at what quality.

    Attributes:
        name (`str`): `tiny`, `quick` or `full`.
        num_clips (`int`): clips (scenes) in the dataset.
        frames_per_clip (`int`): consecutive frames per clip (motion and history need at least 2).
        clips_per_chunk (`int`): clips per Parquet file (the unit of work, resume and splitting).
        render (`RenderSettings`): frame size, samples per pixel and ray counts of every frame.
        validation_fraction, test_fraction (`float`): share of chunks in each held-out split (at least one each).
        crop_scales (`tuple[float, ...]`): each clip draws one scale `s` (its own random stream, so the scene
            itself does not change) and is the centre crop of a render `s` times the frame size: surfaces cover `s`
            times more pixels, as they do when the same view is rendered at a higher resolution. A pinhole camera's
            centre crop is exactly the render with its field of view narrowed to `2 atan(tan(fov / 2) / s)`, which
            is how it is rendered: no pixel outside the crop is traced.
    """

    name: str
    num_clips: int
    frames_per_clip: int
    clips_per_chunk: int
    render: RenderSettings
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    crop_scales: tuple[float, ...] = field(default=(1.0,), metadata={RECORDED_WHEN_SET: True})

    def crop_scale(self, seed: int, clip: int) -> float:
        """The scale clip `clip` of dataset seed `seed` is cropped at (see `crop_scales`)."""
        if len(self.crop_scales) == 1:
            return float(self.crop_scales[0])
        rng = np.random.default_rng([seed, clip, _CROP_SCALE_STREAM])
        return float(self.crop_scales[rng.integers(len(self.crop_scales))])

    @property
    def num_items(self) -> int:
        """Items of the dataset-folder driver: clips."""
        return self.num_clips

    @property
    def items_per_chunk(self) -> int:
        return self.clips_per_chunk

    @property
    def num_frames(self) -> int:
        """Frames in the whole dataset."""
        return self.num_clips * self.frames_per_clip


DATA_PRESETS = {
    "tiny": DataPreset("tiny", 6, 2, 1, RenderSettings(24, 24, ground_truth_spp=16, ao_samples=4, shadow_samples=2)),
    "quick": DataPreset("quick", 160, 4, 4, RenderSettings(64, 64, ground_truth_spp=128)),
    "full": DataPreset("full", 1000, 4, 8, RenderSettings(128, 128, ground_truth_spp=512)),
}
"""`tiny`: 12 frames of 24x24 for tests (seconds). `quick`: 640 frames of 64x64, 128-spp ground truth (the CPU
preset). `full`: 4000 frames of 128x128, 512-spp ground truth (a GPU or a long CPU run). None of them crops
(`DataPreset.crop_scales`); a preset object that does is passed as it is:
`generate_gbuffer_dataset(output, dataclasses.replace(DATA_PRESETS["quick"], crop_scales=(1.0, 1.0, 1.5, 2.0)))`."""


class _ClipWorker:
    """Renders clips for one process (one Mitsuba renderer, its timings)."""

    def __init__(self, preset: DataPreset, seed: int):
        self.preset, self.seed = preset, seed
        self.renderer = ClipRenderer(preset.render)

    def rows(self, clip: int, split: str) -> list[dict]:
        spec = centre_crop(
            generate_scene(self.seed, clip, self.preset.frames_per_clip), self.preset.crop_scale(self.seed, clip)
        )
        frames = self.renderer.render_clip(spec, self.seed, clip, independent_ground_truth=split == "test")
        return clip_rows(frames, clip, spec.kind, self.preset)

    def timing(self) -> dict:
        return {"render_seconds": self.renderer.render_seconds, "render_samples": self.renderer.render_samples}


def centre_crop(spec: SceneSpec, scale: float) -> SceneSpec:
    """`spec` seen as the centre `1 / scale` of its frame, rendered at the full frame size (see
    `DataPreset.crop_scales`): the field of view narrowed to `2 atan(tan(fov / 2) / scale)`."""
    if scale == 1.0:
        return spec
    half_width = np.tan(np.radians(spec.fov) / 2.0) / scale
    return replace(spec, fov=float(np.degrees(2.0 * np.arctan(half_width))))


def clip_rows(frames: list[dict], clip: int, kind: str, preset: DataPreset) -> list[dict]:
    """The dataset rows of one rendered clip (`ClipRenderer.render_clip`): stored buffers as float16, labels, ids."""
    rows = []
    empty = np.zeros((preset.render.height, preset.render.width, 3), np.float16)
    for index, frame in enumerate(frames):
        row = {name: np.clip(frame[name], -_FLOAT16_MAX, _FLOAT16_MAX).astype(np.float16) for name in STORED_BUFFERS}
        row["ground_truth"] = np.minimum(frame["ground_truth"], _FLOAT16_MAX).astype(np.float16)
        independent = frame.get("ground_truth_independent")
        row["has_independent_ground_truth"] = independent is not None
        row["ground_truth_independent"] = (
            empty if independent is None else np.minimum(independent, _FLOAT16_MAX).astype(np.float16)
        )
        row["material_label"] = frame["material_label"].astype(np.int16)
        row["scene_id"], row["frame_index"], row["scene_kind"] = clip, index, kind
        rows.append(row)
    return rows


class GBufferClipGenerator(DatasetGenerator):
    """Procedural rooms and outdoor scenes rendered by Mitsuba 3 (see the module docstring)."""

    kind = "gbuffer_clips"
    version = "2.1"
    presets = DATA_PRESETS
    report_baselines = (
        "direct",
        "path_1spp",
        "oidn",
        "bilinear",
        "bicubic",
        "demodulated_bilinear",
        "per_pixel_mlp",
        "majority",
        "gt_floor",
    )

    def features(self, preset: DataPreset):
        """Every stored buffer as `(H, W, C)` float16, the ground truth and its independent re-render, the semantic
        label map and the clip coordinates."""
        from datasets import Array2D, Array3D, Features, Value

        shape = (preset.render.height, preset.render.width)
        columns = {name: Array3D((*shape, BUFFER_SPECS[name].channels), "float16") for name in STORED_BUFFERS}
        columns["ground_truth"] = Array3D((*shape, 3), "float16")
        columns["ground_truth_independent"] = Array3D((*shape, 3), "float16")
        columns["has_independent_ground_truth"] = Value("bool")
        columns["material_label"] = Array2D(shape, "int16")
        columns["scene_id"] = Value("int32")
        columns["frame_index"] = Value("int32")
        columns["scene_kind"] = Value("string")
        return Features(columns)

    def environment(self, variant: str | None) -> dict:
        """The Mitsuba version and variant (variants differ in their bytes)."""
        import mitsuba

        return {"mitsuba_version": mitsuba.__version__, "mitsuba_variant": select_variant(variant)}

    def start(self, preset: DataPreset, seed: int, environment: dict) -> _ClipWorker:
        return _ClipWorker(preset, seed)

    def finalize(self, folder: Path) -> dict:
        from .card import finalize_dataset

        return finalize_dataset(folder)

    def describe_baselines(self, results: dict) -> str:
        from .card import baselines_table

        heading = f"Baselines on the {results['split']} split ({results['frames']} frames):"
        return heading + "\n" + baselines_table(results["baselines"])


GBUFFER_CLIPS = GBufferClipGenerator()
"""The generator of the renderers' datasets."""


def generate_gbuffer_dataset(output, preset="quick", seed: int = 0, **options) -> dict:
    """`uruk_hf.data.folder.generate_dataset` with `GBUFFER_CLIPS`."""
    from ..folder import generate_dataset

    return generate_dataset(GBUFFER_CLIPS, output, preset, seed, **options)
