"""Time-of-day relighting over (view, source preset, target preset) pairs: the task of the WS4 world remapper.

An item is one view of a `relighting_pairs` dataset and an ordered pair of two different presets. A batch packs
the view's G-buffer, the frame under the source preset and its directly seen emission, the target preset's
key-light visibility, its lights' unshadowed irradiance (all, and its key light's), its key light's specular
reflection and its directly seen emission with the model's `UrukGBufferProcessor`, and the condition (source and
target one-hots, the target's sun). The loss is L1 + MS-SSIM on tone-mapped frames; validation measures the frame
metrics overall, on the pixels whose shadowing changes between the two presets, and per pair; the gate compares
with a least-squares colour matrix per pair fitted on the train split; a student learns from its teacher's frames.
"""

import time
from pathlib import Path

import numpy as np
import torch

from ...data.folder import load_split
from ...data.rendering.relighting import (
    RELIGHTING_BUFFERS,
    baseline_metrics,
    colour_matrix_frames,
    fit_colour_matrices,
    preset_pairs,
    shadow_changed,
)
from ...metrics import relighting_metrics
from ...models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
from ...tonemap import tonemap
from ..losses import LossWeights, frame_loss
from .base import Task

__all__ = ["RelightingPairs", "RelightingTask"]

_EXAMPLE_PAIRS = (("noon", "night"), ("noon", "golden_hour"), ("overcast", "noon"), ("night", "noon"))
"""The pairs of the example grid, one row each."""


class RelightingPairs(torch.utils.data.Dataset):
    """The (view, source, target) items of `split` of a `relighting_pairs` dataset folder, its arrays in memory.

    Args:
        data: the dataset folder.
        split: `train`, `validation` or `test`.
        presets: the preset names, in the condition's order (the model config's `lighting_presets`).
        max_views: keep only the first views (Smoke's tiny slices).
    """

    def __init__(self, data: str | Path, split: str, presets: list[str], max_views: int | None = None):
        self.folder, self.split, self.presets = Path(data), split, list(presets)
        self.arrays = load_split(data, split)
        missing = [
            f"{column}_{name}"
            for name in self.presets
            for column in ("irradiance", "key_irradiance", "emission", "key_specular")
            if f"{column}_{name}" not in self.arrays
        ]
        if missing:
            raise ValueError(
                f"{self.folder} ({split} split) has no {', '.join(missing)}: it was generated before the "
                "relighting_pairs kind stored each preset's light irradiance (generator 1.1), directly seen "
                "emission (1.2), key-light irradiance (1.3) and key-light specular reflection (1.4); regenerate it "
                "with `uruk data generate --kind relighting_pairs`."
            )
        views = len(self.arrays["scene_id"])
        if max_views is not None:
            views = min(views, max_views)
            self.arrays = {name: values[:views] for name, values in self.arrays.items()}
        self.items = [(view, s, t) for view in range(views) for s, t in preset_pairs()]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """The item's arrays: the view's G-buffer, the source frame and emission, both presets' key-light
        visibility, the target lights' irradiance (all, and the key light's), the key light's specular reflection
        and the target's emission, the target frame and key light, and the pair."""
        view, source, target = self.items[index]
        arrays, presets = self.arrays, self.presets
        item = {name: arrays[name][view] for name in RELIGHTING_BUFFERS}
        item.update(
            source_frame=arrays[f"frame_{presets[source]}"][view],
            source_emission=arrays[f"emission_{presets[source]}"][view],
            source_shadow=arrays[f"shadow_{presets[source]}"][view],
            target_shadow=arrays[f"shadow_{presets[target]}"][view],
            target_irradiance=arrays[f"irradiance_{presets[target]}"][view],
            target_key_irradiance=arrays[f"key_irradiance_{presets[target]}"][view],
            target_key_specular=arrays[f"key_specular_{presets[target]}"][view],
            target_emission=arrays[f"emission_{presets[target]}"][view],
            target_frame=arrays[f"frame_{presets[target]}"][view],
            target_light=np.asarray(arrays[f"light_{presets[target]}"][view], np.float32),
            source=source,
            target=target,
            index=index,
        )
        return item


class RelightingTask(Task):
    """Time-of-day relighting of the WS4 world remapper (see the module docstring)."""

    gate_metric = "psnr"
    gate_baseline = "colour_matrix"
    loss_weights_class = LossWeights
    report_columns = (
        ("psnr", "PSNR (dB)"),
        ("psnr_shadow_changed", "shadow-changed PSNR (dB)"),
        ("ssim", "SSIM"),
        ("ssim_shadow_changed", "shadow-changed SSIM"),
        ("flip", "FLIP"),
        ("flip_shadow_changed", "shadow-changed FLIP"),
        ("ms_per_frame", "ms/frame"),
    )
    curve_metrics = (("psnr", "validation PSNR (dB)"), ("psnr_shadow_changed", "validation shadow-changed PSNR (dB)"))
    int8_metrics = ("psnr", "psnr_shadow_changed")
    card_template = "model_card_relighting.md.j2"
    card_tags = ("relighting", "time-of-day", "image-to-image", "uruk")

    def __init__(self, config):
        super().__init__(config)
        self.processor = UrukGBufferProcessor(input_buffers=config.input_buffers)
        self._matrices: dict[Path, np.ndarray] = {}

    # Data -----------------------------------------------------------------------------------------------------
    def dataset(self, data, split: str, max_items: int | None = None) -> RelightingPairs:
        # `max_items` counts items; a view holds 12 of them.
        views = None if max_items is None else max(1, -(-max_items // len(preset_pairs())))
        return RelightingPairs(data, split, self.config.lighting_presets, max_views=views)

    def collate(self, items: list[dict]) -> dict:
        """Packed inputs, conditions, targets, shadow-changed masks and pairs of `RelightingPairs` items."""
        presets = len(self.config.lighting_presets)
        buffers = {
            entry["name"]: np.stack([item[entry["name"]] for item in items]).astype(np.float32)
            for entry in self.config.input_buffers
        }
        condition = torch.zeros(len(items), self.config.condition_size)
        for row, item in enumerate(items):
            condition[row, item["source"]] = 1.0
            condition[row, presets + item["target"]] = 1.0
            condition[row, 2 * presets :] = torch.from_numpy(item["target_light"])
        changed = shadow_changed(
            np.stack([item["source_shadow"] for item in items]),
            np.stack([item["target_shadow"] for item in items]),
            np.stack([item["mask"] for item in items]),
        )
        targets = np.stack([item["target_frame"] for item in items]).astype(np.float32)
        return {
            "pixel_values": self.processor(buffers)["pixel_values"],
            "condition": condition,
            "frame_targets": torch.from_numpy(targets).permute(0, 3, 1, 2),
            "shadow_changed": torch.from_numpy(changed),
            "pair": torch.tensor([[item["source"], item["target"]] for item in items]),
            "index": torch.tensor([item["index"] for item in items]),
        }

    # Learning -------------------------------------------------------------------------------------------------
    def forward(self, model, batch: dict):
        return model(batch["pixel_values"], batch["condition"])

    def loss(self, outputs, batch: dict, weights: LossWeights) -> torch.Tensor:
        return frame_loss(outputs.frame, batch["frame_targets"].to(outputs.frame.device), weights)

    def save_extras(self, folder: Path) -> None:
        self.processor.save_pretrained(folder)

    def uses_teacher(self, terms) -> bool:
        return bool(terms is not None and terms.teacher_frame)

    def distillation_loss(self, student_outputs, teacher_outputs, batch, weights, terms) -> torch.Tensor:
        """The task loss plus `terms.teacher_frame` x L1 to the teacher's tone-mapped frame."""
        loss = self.loss(student_outputs, batch, weights)
        teacher = tonemap(teacher_outputs.frame.detach())
        return loss + terms.teacher_frame * torch.nn.functional.l1_loss(tonemap(student_outputs.frame), teacher)

    # Measurement ----------------------------------------------------------------------------------------------
    def predictions(self, model, dataset: RelightingPairs, batch_size: int = 24):
        """The model's frames on every item of `dataset` (`(N, H, W, 3)`), with the targets, shadow-changed masks,
        pairs and milliseconds per frame."""
        frames, targets, changed, pairs, seconds = [], [], [], [], 0.0
        with torch.inference_mode():
            for start in range(0, len(dataset), batch_size):
                batch = self.collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
                begin = time.perf_counter()
                output = self.forward(model, batch)
                seconds += time.perf_counter() - begin
                frames.append(output.frame.float().permute(0, 2, 3, 1).cpu().numpy())
                targets.append(batch["frame_targets"].permute(0, 2, 3, 1).numpy())
                changed.append(batch["shadow_changed"].numpy())
                pairs += [tuple(pair) for pair in batch["pair"].tolist()]
        count = max(len(pairs), 1)
        return np.concatenate(frames), np.concatenate(targets), np.concatenate(changed), pairs, 1e3 * seconds / count

    def evaluate(self, model, dataset: RelightingPairs, full: bool = False) -> dict[str, float]:
        """`relighting_metrics` (FLIP only when `full`) and milliseconds per frame (batches of 24)."""
        frames, targets, changed, pairs, ms = self.predictions(model, dataset)
        metrics = relighting_metrics(frames, targets, changed, pairs, tuple(dataset.presets), flip=full)
        return {**metrics, "ms_per_frame": ms}

    def colour_matrices(self, folder: Path) -> np.ndarray:
        """The colour matrices fitted on the train split of `folder` (`fit_colour_matrices`, computed once)."""
        folder = Path(folder)
        if folder not in self._matrices:
            self._matrices[folder] = fit_colour_matrices(folder)
        return self._matrices[folder]

    def colour_matrix_frames(self, dataset: RelightingPairs, items: list[tuple[int, int, int]]) -> np.ndarray:
        """The colour-matrix baseline's frames of `(view, source, target)` items: `(N, H, W, 3)`."""
        matrices = self.colour_matrices(dataset.folder)
        return np.stack(
            [
                colour_matrix_frames(dataset.arrays[f"frame_{dataset.presets[s]}"][v], matrices[s, t])
                for v, s, t in items
            ]
        )

    def gate_baselines(self, dataset: RelightingPairs) -> dict[str, dict[str, float]]:
        """The colour matrix per pair (fitted on the train split) and the identity, on `dataset`
        (`baseline_metrics`)."""
        matrices = self.colour_matrices(dataset.folder)
        return baseline_metrics(dataset.arrays, matrices, tuple(dataset.presets), flip=False)

    def outputs_finite(self, outputs) -> bool:
        return bool(torch.isfinite(outputs.frame).all())

    def outputs_difference(self, first, second) -> float:
        return float((first.frame - second.frame).abs().max())

    # Publishing ---------------------------------------------------------------------------------------------
    def calibration_inputs(self, model, dataset: RelightingPairs, max_frames: int = 48) -> list[dict]:
        """`{"pixel_values", "condition"}` of the first items of `dataset`, one per entry (int8 calibration)."""
        step = max(1, len(dataset) // max_frames)
        chosen = list(range(0, len(dataset), step))[:max_frames]
        inputs = []
        for index in chosen:
            batch = self.collate([dataset[index]])
            inputs.append({"pixel_values": batch["pixel_values"].numpy(), "condition": batch["condition"].numpy()})
        return inputs

    def onnx_model(self, folder: Path, file_name: str):
        from ...models.ws4_remapper.modeling_ort_ws4_remapper import UrukORTWS4Remapper

        return UrukORTWS4Remapper.from_pretrained(folder, file_name=file_name)

    def write_examples(self, model, dataset: RelightingPairs, path: Path, items: int = 4) -> str:
        """One row per example pair (noon to night, noon to golden hour, overcast to noon, night to noon) of the
        first test views: source frame, colour-matrix baseline, prediction, ground truth; returns the column
        names."""
        from PIL import Image

        from ...file_utils import atomic_path

        presets = dataset.presets
        views = len(dataset.arrays["scene_id"])
        chosen = [
            (row % views, presets.index(s), presets.index(t))
            for row, (s, t) in enumerate(_EXAMPLE_PAIRS[:items])
            if s in presets and t in presets
        ]
        lookup = {item: index for index, item in enumerate(dataset.items)}
        batch = self.collate([dataset[lookup[item]] for item in chosen])
        with torch.inference_mode():
            predicted = self.forward(model, batch).frame
        baseline = torch.from_numpy(self.colour_matrix_frames(dataset, chosen)).permute(0, 3, 1, 2)
        source = torch.stack(
            [torch.from_numpy(dataset.arrays[f"frame_{presets[s]}"][v].astype(np.float32)) for v, s, _ in chosen]
        ).permute(0, 3, 1, 2)
        columns = [source, baseline, predicted, batch["frame_targets"]]
        tiles = [(tonemap(c).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8) for c in columns]
        grid = np.concatenate([np.concatenate([tile[row] for tile in tiles], axis=1) for row in range(len(chosen))])
        image = Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST)
        with atomic_path(path) as temporary:
            image.save(temporary, format="PNG")
        rows = "; ".join(f"{presets[s]} -> {presets[t]}" for _, s, t in chosen)
        return f"source frame, colour matrix, prediction, ground truth (rows: {rows})"

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        keys = ("psnr", "ssim", "flip", "psnr_shadow_changed")
        return [("image-to-image", key, float(metrics[key])) for key in keys if key in metrics]

    def card_fields(self) -> dict:
        """The input layout and the preset pairs of the per-pair table."""
        from ...schema import BUFFER_SPECS

        presets = self.config.lighting_presets
        return {
            "num_channels": self.config.num_channels,
            "condition_size": self.config.condition_size,
            "layout": [
                {
                    "name": item["name"],
                    "channels": item["channels"],
                    "transform": BUFFER_SPECS[item["name"]].transform,
                    "description": BUFFER_SPECS[item["name"]].description,
                }
                for item in self.config.input_buffers
            ],
            "presets": ", ".join(presets),
            "pairs": [
                {"label": f"{presets[s]} -> {presets[t]}", "key": f"{presets[s]}_to_{presets[t]}"}
                for s, t in preset_pairs()
            ],
        }
