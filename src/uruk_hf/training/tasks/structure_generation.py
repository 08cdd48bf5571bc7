"""The task of the WS8 structure generator: next-token prediction over block-structure token sequences.

Training items are whole sequences (`bos`, class, bounds, blocks, `eos`), packed into rows (`collate`; one padded
row per sequence for ONNX Runtime, `padded`); the loss is the model's own causal LM cross-entropy over every token
after `bos`. Validation measures the held-out NLL per token (on the
first `VALIDATION_STRUCTURES` structures, for speed). `evaluate(full=True)` adds what a user of a generator cares
about, from `SAMPLES` structures sampled at temperature 1 with the classes in turn and **no repair**: validity,
class adherence, novelty against the training split, diversity, and the time per structure (in batches, and for
one full-length structure of `max_blocks` blocks at batch size 1); and from `BOX_SAMPLES` structures asked for
inside the boxes of the split's first structures (each one's class and bounds as the prompt): their validity,
class adherence and whether they keep inside and fill the box.
"""

import time
from functools import cache
from pathlib import Path

import numpy as np
import torch

from ...data.folder import load_split
from ...data.grammar.generator import train_keys
from ...data.grammar.metrics import BigramModel, box_metrics, sample_metrics
from ...data.grammar.structures import Structure, classify
from ...models.ws8_structure.modeling_ws8_structure import (
    BlockGeometryTemperatureLogitsProcessor,
    block_geometry_positions,
)
from .base import Task

__all__ = ["SequenceList", "StructureGenerationTask", "StructureSequences", "sample_structures"]

SAMPLES = 1000
"""Structures sampled by a full evaluation (the classes in turn)."""

BOX_SAMPLES = 300
"""Structures a full evaluation samples inside the boxes of the split's first structures."""

VALIDATION_STRUCTURES = 1000
"""Structures of the split whose NLL a validation pass measures."""


class SequenceList(torch.utils.data.Dataset):
    """Token sequences held in memory, each item `{"input_ids": sequence}` (a self-training round's samples), plus
    `"learn_geometry": False` when the blocks' extents and offsets are not to be learned from them (`collate`
    leaves those tokens out of the labels).

    Args:
        sequences: the token sequences, each from `bos` to `eos`.
        learn_geometry: whether the loss covers the blocks' extents and offsets (the class, the bounds and the block
            types, or `eos`, are always learned).
    """

    def __init__(self, sequences: list[np.ndarray], learn_geometry: bool = True):
        self.sequences, self.learn_geometry = list(sequences), learn_geometry

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict:
        item = {"input_ids": self.sequences[index]}
        if not self.learn_geometry:
            item["learn_geometry"] = False
        return item


class StructureSequences(SequenceList):
    """The token sequences of one split of a `block_structures` folder.

    Args:
        folder: the dataset folder.
        split: `train`, `validation` or `test`.
        max_items: keep only the first structures (Smoke, tests).
    """

    def __init__(self, folder: str | Path, split: str, max_items: int | None = None):
        self.folder, self.split = Path(folder), split
        tokens = load_split(folder, split, ["tokens"])["tokens"]
        super().__init__([np.asarray(sequence, np.int64) for sequence in tokens[:max_items]])


@cache
def _train_keys(folder: Path) -> frozenset:
    return frozenset(train_keys(folder))


def sample_structures(
    model,
    count: int,
    batch_size: int = 250,
    seed: int = 0,
    logits_processor: list | None = None,
    boxes: list[tuple[str, tuple[int, ...]]] | None = None,
) -> tuple[list[Structure], float]:
    """`count` structures sampled from `model` at temperature 1 (classes in turn, seeded), through the extra
    `logits_processor`s if given, or one inside each of `boxes` (`(class_name, bounds)` pairs, `count` ignored);
    returns them and the seconds it took."""
    layout = model.config.token_layout()
    if boxes is None:
        prompts = [
            Structure(layout.classes[index % len(layout.classes)]).to_tokens(layout, end=False)
            for index in range(count)
        ]
    else:
        prompts = [Structure(name).to_tokens(layout, end=False, bounds=box) for name, box in boxes]
    torch.manual_seed(seed)
    structures, started = [], time.perf_counter()
    with torch.inference_mode():
        for begin in range(0, len(prompts), batch_size):
            prompt = torch.tensor(prompts[begin : begin + batch_size])
            tokens = model.generate(
                prompt,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                attention_mask=torch.ones_like(prompt),
                logits_processor=logits_processor,
            )
            structures += [Structure.from_tokens(row.tolist(), layout) for row in tokens]
    return structures, time.perf_counter() - started


def full_length_seconds(model, repeats: int = 3) -> float:
    """The median seconds to sample one structure of `max_blocks` blocks at batch size 1 (`eos` held back)."""
    layout = model.config.token_layout()
    prompt = torch.tensor([[layout.bos, layout.field_range("class")[0]]])
    timings = []
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            model.generate(
                prompt,
                do_sample=True,
                top_k=0,
                min_length=layout.max_length - 1,
                attention_mask=torch.ones_like(prompt),
            )
            timings.append(time.perf_counter() - started)
    return float(np.median(timings))


class StructureGenerationTask(Task):
    """The WS8 task (see the module docstring). Gates compare the held-out log-likelihood per token with a token
    bigram fitted on the training split; `gate_margin_scale` turns the preset's margin into nats."""

    gate_metric = "log_likelihood"
    gate_baseline = "bigram"
    gate_margin_scale = 0.05
    report_columns = (
        ("nll", "NLL (nats/token)"),
        ("validity", "valid %"),
        ("class_adherence", "class adherence %"),
        ("novelty", "novel %"),
        ("diversity", "diversity (1 - IoU)"),
        ("box_validity", "in a given box: valid %"),
        ("box_inside", "in a given box: inside %"),
        ("ms_per_structure", "ms/structure"),
    )
    curve_metrics = (("nll", "validation NLL (nats/token)"),)
    int8_metrics = ("nll", "validity", "class_adherence", "ms_per_structure", "ms_per_full_structure")
    card_template = "model_card_structures.md.j2"
    card_tags = ("procedural-generation", "shape-grammar", "text-generation", "gpt2", "pytorch")

    def dataset(self, data, split: str, max_items: int | None = None) -> StructureSequences:
        return StructureSequences(data, split, max_items)

    def collate(self, items: list[dict]) -> dict:
        """Packs the items' sequences into as few rows of at most `max_length` tokens as first-fit allows, each
        sequence with its own positions (from 0) and a block-diagonal causal mask, so that no token attends to
        another sequence and no padding is computed for short structures; a sequence's first token is not a
        label, nor are the blocks' extents and offsets of an item with `"learn_geometry": False`."""
        layout = self.config.token_layout()
        rows: list[list[tuple[np.ndarray, bool]]] = []  # per row: its sequences and whether each learns geometry
        geometry = block_geometry_positions(torch.arange(layout.max_length), layout)
        for item in sorted(items, key=lambda item: -len(item["input_ids"])):
            sequence = item["input_ids"]
            row = next((row for row in rows if sum(len(s) for s, _ in row) + len(sequence) <= layout.max_length), None)
            entry = (sequence, item.get("learn_geometry", True))
            if row is None:
                rows.append([entry])
            else:
                row.append(entry)
        length = max(sum(len(sequence) for sequence, _ in row) for row in rows)
        input_ids = torch.full((len(rows), length), layout.pad, dtype=torch.long)
        position_ids = torch.zeros((len(rows), length), dtype=torch.long)
        segments = torch.full((len(rows), length), -1, dtype=torch.long)
        labels = torch.full((len(rows), length), -100, dtype=torch.long)
        for index, row in enumerate(rows):
            start = 0
            for segment, (sequence, learn_geometry) in enumerate(row):
                end = start + len(sequence)
                input_ids[index, start:end] = torch.from_numpy(sequence)
                position_ids[index, start:end] = torch.arange(len(sequence))
                segments[index, start:end] = segment
                labels[index, start + 1 : end] = input_ids[index, start + 1 : end]
                if not learn_geometry:
                    labels[index, start:end][geometry[: len(sequence)]] = -100
                start = end
        causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
        same = (segments[:, :, None] == segments[:, None, :]) & (segments[:, :, None] >= 0)
        attention_mask = (causal & same)[:, None]
        # A padding row attends to itself, so that no softmax row is empty.
        attention_mask |= torch.eye(length, dtype=torch.bool)[None, None]
        return {"input_ids": input_ids, "position_ids": position_ids, "attention_mask": attention_mask,
                "labels": labels}  # fmt: skip

    def forward(self, model, batch: dict):
        return model(**batch)

    def loss(self, outputs, batch: dict, weights) -> torch.Tensor:
        return outputs.loss

    def padded(self, items: list[dict]) -> dict:
        """One sequence per row, padded on the right, with a 2D attention mask: the batches of a model that takes
        no 4D mask (ONNX Runtime's decoder); the same labels as `collate`."""
        layout = self.config.token_layout()
        length = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), length), layout.pad, dtype=torch.long)
        attention_mask = torch.zeros((len(items), length), dtype=torch.long)
        for index, item in enumerate(items):
            input_ids[index, : len(item["input_ids"])] = torch.from_numpy(item["input_ids"])
            attention_mask[index, : len(item["input_ids"])] = 1
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        labels[:, 0] = -100
        position_ids = torch.arange(length).expand(len(items), -1)
        return {"input_ids": input_ids, "position_ids": position_ids, "attention_mask": attention_mask,
                "labels": labels}  # fmt: skip

    def _nll(self, model, dataset: StructureSequences, limit: int | None, batch_size: int = 256) -> float:
        total, count = 0.0, 0
        items = [dataset[index] for index in range(min(len(dataset), limit or len(dataset)))]
        batches = self.collate if isinstance(model, torch.nn.Module) else self.padded
        with torch.inference_mode():
            for begin in range(0, len(items), batch_size):
                batch = batches(items[begin : begin + batch_size])
                labels = batch.pop("labels")[:, 1:]
                logits = model(**batch).logits[:, :-1]
                total += float(
                    torch.nn.functional.cross_entropy(
                        logits.flatten(0, 1).float(), labels.flatten(), reduction="sum", ignore_index=-100
                    )
                )
                count += int((labels != -100).sum())
        return total / count

    def evaluate(self, model, dataset: StructureSequences, full: bool = False) -> dict[str, float]:
        """The NLL per token (of the first `VALIDATION_STRUCTURES` unless `full`); with `full` also the sample
        metrics of `SAMPLES` structures and the timings (see the module docstring)."""
        if isinstance(model, torch.nn.Module):
            model.eval()
        nll = self._nll(model, dataset, None if full else VALIDATION_STRUCTURES)
        metrics = {"nll": nll, "log_likelihood": -nll}
        if full:
            structures, seconds = sample_structures(model, SAMPLES)
            metrics.update(sample_metrics(structures, set(_train_keys(dataset.folder))))
            metrics["ms_per_structure"] = 1000.0 * seconds / len(structures)
            metrics["ms_per_full_structure"] = 1000.0 * full_length_seconds(model)
            metrics["samples"] = len(structures)
            layout = model.config.token_layout()
            given = [Structure.from_tokens(sequence.tolist(), layout) for sequence in dataset.sequences[:BOX_SAMPLES]]
            boxes = [(structure.class_name, structure.bounds()) for structure in given]
            inside, _ = sample_structures(model, len(boxes), boxes=boxes)
            metrics.update(box_metrics(inside, [box for _, box in boxes]))
            metrics["box_samples"] = len(boxes)
        return metrics

    def self_training_sequences(
        self, model, count: int, seed: int, geometry_temperature: float = 1.0
    ) -> tuple[list[np.ndarray], float]:
        """`count` structures sampled from `model` (classes in turn, `seed`; each block's geometry at
        `geometry_temperature`, `BlockGeometryTemperatureLogitsProcessor`), of which those valid with no repair and
        of their requested class are kept: their token sequences and the share kept (with every token at
        temperature 1, what a self-training round is judged by: `share_kept`)."""
        model.eval()
        layout = self.config.token_layout()
        cooler = None
        if geometry_temperature != 1.0:
            cooler = [BlockGeometryTemperatureLogitsProcessor(geometry_temperature, layout)]
        structures, _ = sample_structures(model, count, seed=seed, logits_processor=cooler)
        kept = [
            np.asarray(structure.to_tokens(layout), np.int64)
            for structure in structures
            if structure.blocks and structure.is_valid and classify(structure) == structure.class_name
        ]
        return kept, len(kept) / len(structures)

    def share_kept(self, model, count: int, seed: int) -> float:
        """The share of `count` fresh samples at temperature 1 that `self_training_sequences` keeps: what a
        self-training round is judged by."""
        return self.self_training_sequences(model, count, seed)[1]

    def gate_baselines(self, dataset: StructureSequences) -> dict[str, dict[str, float]]:
        """A token bigram fitted on the training split, measured on `dataset` (the first `VALIDATION_STRUCTURES`,
        as validation measures the model)."""
        train = StructureSequences(dataset.folder, "train").sequences
        nll = BigramModel(train, layout=self.config.token_layout()).nll(dataset.sequences[:VALIDATION_STRUCTURES])
        return {"bigram": {"nll": nll, "log_likelihood": -nll}}

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        keys = ("nll", "validity", "class_adherence", "novelty")
        return [("text-generation", key, float(metrics[key])) for key in keys if key in metrics]

    def outputs_finite(self, outputs) -> bool:
        return bool(torch.isfinite(outputs.logits).all())

    def outputs_difference(self, first, second) -> float:
        return float((first.logits - second.logits).abs().max())

    # Publishing ---------------------------------------------------------------------------------------------
    def onnx_model(self, folder: Path, file_name: str):
        """The ONNX file `file_name` of `folder` as a model `evaluate` accepts (`generate()` on ONNX Runtime)."""
        from ...models.ws8_structure.modeling_ort_ws8_structure import UrukORTWS8StructureGenerator

        return UrukORTWS8StructureGenerator.from_pretrained(folder, file_name=file_name)

    def write_examples(self, model, dataset: StructureSequences, path: Path, items: int = 3) -> str:
        """Rendered structures, one row per class: a test structure of the grammar, then `items` samples of the
        model (seeded, temperature 1, no repair), each titled valid or not."""
        from PIL import Image, ImageDraw

        from ...data.grammar.scene import render_structure
        from ...file_utils import atomic_path

        layout = model.config.token_layout()
        samples, _ = sample_structures(model, items * len(layout.classes), seed=1)
        grammar = [Structure.from_tokens(sequence.tolist(), layout) for sequence in dataset.sequences]
        size, rows = 128, []
        for class_index, name in enumerate(layout.classes):
            reference = next(structure for structure in grammar if structure.class_name == name)
            drawn = [reference, *[s for s in samples if s.class_name == name][:items]]
            tiles = []
            for column, structure in enumerate(drawn):
                tile = (
                    render_structure(structure, size, 32, seed=class_index)
                    if structure.blocks
                    else np.zeros((size, size, 3), np.uint8)
                )
                image = Image.fromarray(tile)
                label = f"{name}: {'grammar' if column == 0 else 'sample'}{'' if structure.is_valid else ' (invalid)'}"
                ImageDraw.Draw(image).text((3, 2), label, fill=(255, 255, 255))
                tiles.append(np.asarray(image))
            rows.append(np.concatenate(tiles, axis=1))
        with atomic_path(path) as temporary:
            Image.fromarray(np.concatenate(rows, axis=0)).save(temporary, format="PNG")
        return "one row per class: a test structure of the shape grammar, then samples of the model"

    def card_fields(self) -> dict:
        layout = self.config.token_layout()
        return {
            "grid_size": layout.grid_size,
            "max_blocks": layout.max_blocks,
            "vocab_size": layout.vocab_size,
            "max_length": layout.max_length,
            "classes": ", ".join(layout.classes),
            "block_types": ", ".join(layout.block_types),
            "samples": SAMPLES,
            "value_embeddings": self.config.value_embeddings,
        }
