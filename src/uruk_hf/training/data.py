"""Clips of a generated dataset as training batches.

A clip is the consecutive frames of one scene. Items hold raw buffers (what `UrukGBufferProcessor` packs), the
ground truth and labels; the collator packs every frame through the processor, so ground truth can never reach
an input (the processor refuses names outside the model's layout), and `history` is left for the unroll to fill
from the model's own previous output.
"""

from pathlib import Path

import numpy as np
import torch

from ..models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from ..schema import OPTIONAL_ZERO_BUFFERS

__all__ = ["EpochShuffleSampler", "UrukClipCollator", "UrukClipDataset"]

_WARP_BUFFERS = ("motion", "history_valid")


class UrukClipDataset(torch.utils.data.Dataset):
    """The clips of one split of a dataset folder made by `uruk data generate`, held in memory as float16.

    Args:
        folder: the dataset folder.
        split: `train`, `validation` or `test`.
        input_buffers: the model's layout (`config.input_buffers`); `history` is never loaded (not stored).
        max_clips: keep only the first clips (smoke tests, calibration).
    """

    def __init__(self, folder: str | Path, split: str, input_buffers: list[dict], max_clips: int | None = None):
        from ..data.folder import open_split

        dataset = open_split(folder, split)
        self.buffer_names = [e["name"] for e in input_buffers if e["name"] not in OPTIONAL_ZERO_BUFFERS]
        if any(e["name"] == "history" for e in input_buffers):
            self.buffer_names += [name for name in _WARP_BUFFERS if name not in self.buffer_names]
        missing = [name for name in self.buffer_names if name not in dataset.column_names]
        if missing:
            raise ValueError(f"{folder} ({split}) lacks the buffers {missing} that the model's layout needs.")
        floats = dataset.with_format("numpy", columns=[*self.buffer_names, "ground_truth"], dtype=np.float16)[:]
        others = dataset.with_format("numpy", columns=["material_label", "scene_id", "frame_index"])[:]
        order = np.lexsort((others["frame_index"], others["scene_id"]))
        scenes = others["scene_id"][order]
        starts = np.flatnonzero(np.r_[True, scenes[1:] != scenes[:-1]])
        self.clips = np.split(order, starts[1:])[:max_clips]
        self.arrays = {name: floats[name] for name in floats}
        self.labels = others["material_label"].astype(np.int64)
        self.scene_ids = [int(scenes[start]) for start in starts][: len(self.clips)]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        rows = self.clips[index]
        item = {name: self.arrays[name][rows] for name in self.buffer_names}
        item["ground_truth"] = self.arrays["ground_truth"][rows]
        item["material_label"] = self.labels[rows]
        item["clip_index"] = index
        return item


class UrukClipCollator:
    """Stacks clips (all of the same length) into a batch for the recurrent unroll.

    Returns a dict of `(B, K, ...)` tensors: `pixel_values` (every frame packed by the processor, history zeros),
    `frame_targets` (linear HDR ground truth, channels first), `material_labels`, the raw `motion` and
    `history_valid` used to warp the model's previous output when the layout has `history`, and `clip_index` `(B,)`
    (which clips of the dataset the batch holds).
    """

    def __init__(self, processor: UrukGBufferProcessor):
        self.processor = processor
        self.input_names = [e["name"] for e in processor.input_buffers if e["name"] not in OPTIONAL_ZERO_BUFFERS]

    def __call__(self, clips: list[dict]) -> dict[str, torch.Tensor]:
        lengths = {len(clip["ground_truth"]) for clip in clips}
        if len(lengths) != 1:
            raise ValueError(f"Clips in a batch must have the same number of frames, got {sorted(lengths)}.")
        frames = lengths.pop()
        stacked = {name: np.stack([clip[name] for clip in clips]) for name in clips[0] if name != "clip_index"}
        pixel_values = torch.stack(
            [
                self.processor({name: stacked[name][:, k] for name in self.input_names})["pixel_values"]
                for k in range(frames)
            ],
            dim=1,
        )
        batch = {
            "pixel_values": pixel_values,
            "frame_targets": torch.from_numpy(stacked["ground_truth"].astype(np.float32)).permute(0, 1, 4, 2, 3),
            "material_labels": torch.from_numpy(stacked["material_label"]),
            "clip_index": torch.tensor([clip.get("clip_index", -1) for clip in clips]),
        }
        for name in _WARP_BUFFERS:
            if name in stacked:
                batch[name] = torch.from_numpy(stacked[name].astype(np.float32)).permute(0, 1, 4, 2, 3)
        return batch


class EpochShuffleSampler(torch.utils.data.Sampler):
    """A new permutation of `0 .. size - 1` every epoch, a function of `(seed, epoch)` alone.

    The order of any epoch can be rebuilt without replaying the ones before it, which is what lets a resumed stage
    continue mid-epoch on exactly the batches an uninterrupted run would see (Accelerate's data loader calls
    `set_epoch` with its iteration count; the stage sets the epoch it resumes in).

    Args:
        size: the number of items.
        seed: the stage's seed.
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.size).tolist())

    def __len__(self) -> int:
        return self.size
