"""Dataset generation: presets, work split into chunks, Parquet shards, resume, and the dataset folder layout.

A dataset is `num_clips` clips (one procedural scene each, `frames_per_clip` consecutive frames) grouped into
chunks of `clips_per_chunk`. Each chunk belongs to one split (so splits never share a scene) and is written as one
Parquet file, `data/<split>-<chunk>.parquet`, atomically: a killed run leaves either the whole file or none, and
a rerun skips finished chunks. Processes split the chunks round-robin (`--num-shards N --shard-index I`, or
`accelerate launch`); the one that finds every chunk written finalizes the folder (baselines, example grid,
dataset card), so the folder loads with `datasets.load_dataset(folder)`.
"""

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..file_utils import atomic_path
from ..schema import BUFFER_SPECS
from .render import ClipRenderer, RenderSettings, select_variant
from .scenes import generate_scene

__all__ = [
    "DATA_PRESETS",
    "GENERATOR_VERSION",
    "STORED_BUFFERS",
    "DataPreset",
    "dataset_features",
    "generate_dataset",
    "quiet_datasets",
]

GENERATOR_VERSION = "1.0"
"""Bumped whenever the same settings would produce different data."""

STORED_BUFFERS = [name for name in BUFFER_SPECS if name != "history"]
"""Buffers stored per frame; `history` is not stored (training fills it from the model's own previous output)."""

_FLOAT16_MAX = 65504.0


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
    """

    name: str
    num_clips: int
    frames_per_clip: int
    clips_per_chunk: int
    render: RenderSettings
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    @property
    def num_frames(self) -> int:
        """Frames in the whole dataset."""
        return self.num_clips * self.frames_per_clip

    @property
    def num_chunks(self) -> int:
        """Parquet files in the whole dataset."""
        return math.ceil(self.num_clips / self.clips_per_chunk)


DATA_PRESETS = {
    "tiny": DataPreset("tiny", 6, 2, 1, RenderSettings(24, 24, ground_truth_spp=16, ao_samples=4, shadow_samples=2)),
    "quick": DataPreset("quick", 160, 4, 4, RenderSettings(64, 64, ground_truth_spp=128)),
    "full": DataPreset("full", 1000, 4, 8, RenderSettings(128, 128, ground_truth_spp=512)),
}
"""`tiny`: 12 frames of 24x24 for tests (seconds). `quick`: 640 frames of 64x64, 128-spp ground truth (the CPU
preset). `full`: 4000 frames of 128x128, 512-spp ground truth (a GPU or a long CPU run)."""


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silences the `datasets` library's per-operation progress bars inside the block (ours report progress)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def chunk_splits(preset: DataPreset, seed: int) -> list[str]:
    """The split of every chunk: a seeded permutation of chunks, the first ones test, then validation, then
    train. Splits are disjoint by scene because every clip is its own scene and a chunk has one split."""
    count = preset.num_chunks
    test = max(1, round(count * preset.test_fraction))
    validation = max(1, round(count * preset.validation_fraction))
    if test + validation >= count:
        raise ValueError(f"Preset {preset.name!r} has {count} chunks: too few for train, validation and test.")
    order = np.random.default_rng([seed, 104729]).permutation(count)
    splits = ["train"] * count
    for position, chunk in enumerate(order):
        splits[chunk] = "test" if position < test else "validation" if position < test + validation else "train"
    return splits


def dataset_features(preset: DataPreset):
    """The Hugging Face `datasets.Features` of a preset's rows: every stored buffer as `(H, W, C)` float16, the
    ground truth and its independent re-render, the semantic label map and the clip coordinates."""
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


def _settings_record(preset: DataPreset, seed: int, variant: str) -> dict:
    import mitsuba

    return {
        "generator_version": GENERATOR_VERSION,
        "preset": asdict(preset),
        "seed": seed,
        "mitsuba_version": mitsuba.__version__,
        "mitsuba_variant": variant,
        "splits": chunk_splits(preset, seed),
    }


def _check_output(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PermissionError(f"Output folder {output} is not writable: {error}") from error


def chunk_path(output: Path, split: str, chunk: int) -> Path:
    """Where chunk `chunk` of split `split` is written."""
    return output / "data" / f"{split}-{chunk:05d}.parquet"


def _write_chunk(path: Path, rows: list[dict], features) -> None:
    from datasets.arrow_writer import ParquetWriter

    columns = {name: [row[name] for row in rows] for name in features}
    with atomic_path(path) as temporary:
        writer = ParquetWriter(path=str(temporary), features=features)
        writer.write_batch(columns)
        writer.finalize()


def _rows(frames: list[dict], clip: int, kind: str, preset: DataPreset) -> list[dict]:
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


def _resolve_shards(num_shards: int | None, shard_index: int | None) -> tuple[int, int, object]:
    if num_shards is None and shard_index is None:
        from accelerate import PartialState

        # cpu=True: rendering needs no torch device, and without it Accelerate treats a CPU-only
        # `accelerate launch --multi_gpu` as a single process instead of a gloo group.
        state = PartialState(cpu=True)
        return state.num_processes, state.process_index, state
    num_shards = 1 if num_shards is None else num_shards
    shard_index = 0 if shard_index is None else shard_index
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(
            f"--shard-index {shard_index} is out of range for --num-shards {num_shards} (0..{num_shards - 1})."
        )
    return num_shards, shard_index, None


def generate_dataset(
    output: str | Path,
    preset: str | DataPreset = "quick",
    seed: int = 0,
    num_shards: int | None = None,
    shard_index: int | None = None,
    variant: str | None = None,
    progress: bool = True,
    finalize: bool = True,
) -> dict:
    """Generates (or completes) a dataset in `output`; returns a summary of what this process did.

    Args:
        output: the dataset folder (created if needed).
        preset: a name of `DATA_PRESETS` or a `DataPreset`.
        seed: the dataset seed; the same seed and preset give byte-identical arrays for one Mitsuba variant.
        num_shards, shard_index: this process renders chunks `shard_index, shard_index + num_shards, ...`. Left
            out, they come from Accelerate (`accelerate launch`), or 1 and 0.
        variant: a Mitsuba variant to force; by default the fastest that runs (`select_variant`).
        progress: show a progress bar.
        finalize: when every chunk exists, compute baselines and write the dataset card.

    Raises:
        ValueError: unknown preset, shard index out of range, or a folder holding a dataset made with other
            settings (another seed, preset, generator version or Mitsuba variant).
        PermissionError: the output folder cannot be written.
    """
    from tqdm.auto import tqdm

    if isinstance(preset, str):
        if preset not in DATA_PRESETS:
            raise ValueError(f"Unknown data preset {preset!r}; choose one of {sorted(DATA_PRESETS)}.")
        preset = DATA_PRESETS[preset]
    output = Path(output)
    num_shards, shard_index, state = _resolve_shards(num_shards, shard_index)
    _check_output(output)
    variant = select_variant(variant)
    record = _settings_record(preset, seed, variant)
    record_path = output / "generation.json"
    if record_path.exists():
        existing = json.loads(record_path.read_text())
        if existing != record:
            changed = sorted(key for key in record if existing.get(key) != record[key])
            raise ValueError(
                f"{output} holds a dataset generated with other settings ({', '.join(changed)} differ); "
                "use a new folder or the same settings to resume."
            )
    else:
        with atomic_path(record_path) as temporary:
            temporary.write_text(json.dumps(record, indent=2))

    splits = record["splits"]
    features = dataset_features(preset)
    renderer = ClipRenderer(preset.render)
    mine = [chunk for chunk in range(preset.num_chunks) if chunk % num_shards == shard_index]
    todo = [chunk for chunk in mine if not chunk_path(output, splits[chunk], chunk).exists()]
    started = time.perf_counter()
    frames_written = 0
    bar = tqdm(
        total=len(todo) * preset.clips_per_chunk,
        desc=f"shard {shard_index}/{num_shards}",
        unit="clip",
        disable=not progress,
    )
    for chunk in todo:
        chunk_started, render_before = time.perf_counter(), renderer.render_seconds
        samples_before = renderer.render_samples
        rows = []
        clips = range(chunk * preset.clips_per_chunk, min((chunk + 1) * preset.clips_per_chunk, preset.num_clips))
        for clip in clips:
            spec = generate_scene(seed, clip, preset.frames_per_clip)
            frames = renderer.render_clip(spec, seed, clip, independent_ground_truth=splits[chunk] == "test")
            rows += _rows(frames, clip, spec.kind, preset)
            bar.update(1)
        _write_chunk(chunk_path(output, splits[chunk], chunk), rows, features)
        frames_written += len(rows)
        timing = {
            "frames": len(rows),
            "seconds": time.perf_counter() - chunk_started,
            "render_seconds": renderer.render_seconds - render_before,
            "render_samples": renderer.render_samples - samples_before,
            "variant": variant,
        }
        with atomic_path(output / "logs" / f"chunk-{chunk:05d}.json") as temporary:
            temporary.write_text(json.dumps(timing))
    bar.close()
    summary = {
        "shard_index": shard_index,
        "num_shards": num_shards,
        "chunks_written": len(todo),
        "chunks_skipped": len(mine) - len(todo),
        "frames_written": frames_written,
        "seconds": time.perf_counter() - started,
        "render_seconds": renderer.render_seconds,
        "variant": variant,
    }
    if state is not None:
        state.wait_for_everyone()
    complete = all(chunk_path(output, splits[chunk], chunk).exists() for chunk in range(preset.num_chunks))
    summary["complete"] = complete
    is_main = state is None or state.is_main_process
    if finalize and complete and is_main:
        from .card import finalize_dataset

        finalize_dataset(output)
    return summary
