"""The `block_structures` dataset kind: structures of the shape grammar (`shapes.py`), one per item, the classes in
turn, each stored as its token sequence (`StructureTokenLayout`) with its class and block count.

Finalizing scores the baselines on the test split and writes the dataset card: the grammar itself (validity, class
adherence, diversity, and the share of test structures absent from the training split), a token bigram fitted on
the training split (held-out NLL, and samples under the same field ranges as a model) and uniform random blocks.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...schema import BLOCK_TYPES, STRUCTURE_CLASSES
from ..folder import DatasetGenerator, dataset_card, load_split
from .metrics import BigramModel, sample_metrics, uniform_random_structures
from .shapes import build_structure
from .structures import LAYOUT, Structure, structure_key

__all__ = ["BLOCK_STRUCTURES", "STRUCTURE_PRESETS", "BlockStructureGenerator", "StructurePreset", "train_keys"]


@dataclass(frozen=True)
class StructurePreset:
    """How many structures.

    Attributes:
        name (`str`): `tiny`, `quick` or `full`.
        num_structures (`int`): structures (the classes in turn).
        structures_per_chunk (`int`): structures per Parquet file.
        validation_fraction, test_fraction (`float`): share of chunks in each held-out split.
        baseline_samples (`int`): structures each sampling baseline draws.
    """

    name: str
    num_structures: int
    structures_per_chunk: int = 1000
    validation_fraction: float = 0.05
    test_fraction: float = 0.05
    baseline_samples: int = 1000

    @property
    def num_items(self) -> int:
        return self.num_structures

    @property
    def items_per_chunk(self) -> int:
        return self.structures_per_chunk


STRUCTURE_PRESETS = {
    "tiny": StructurePreset("tiny", 240, 20, 0.1, 0.1, baseline_samples=24),
    "quick": StructurePreset("quick", 40_000),
    "full": StructurePreset("full", 1_000_000, 10_000, 0.01, 0.01),
}
"""`tiny`: 240 structures (tests). `quick`: 40,000 (seconds to build). `full`: a million."""


class _StructureWorker:
    def __init__(self, seed: int):
        self.seed = seed

    def rows(self, index: int, split: str) -> list[dict]:
        structure_seed = int(np.random.default_rng([self.seed, index]).integers(2**62))
        class_name = STRUCTURE_CLASSES[index % len(STRUCTURE_CLASSES)]
        structure = build_structure(class_name, np.random.default_rng(structure_seed))
        return [
            {
                "tokens": structure.to_tokens(),
                "label": STRUCTURE_CLASSES.index(class_name),
                "num_blocks": len(structure.blocks),
                "structure_id": index,
                "structure_seed": structure_seed,
            }
        ]

    def timing(self) -> dict:
        return {}


def load_structures(folder: str | Path, split: str) -> list[Structure]:
    """The structures of `split` of a `block_structures` folder."""
    return [Structure.from_tokens(tokens) for tokens in load_split(folder, split, ["tokens"])["tokens"]]


def train_keys(folder: str | Path) -> set:
    """`structure_key`s of the training split (what a sample must differ from to count as novel)."""
    return {structure_key(structure) for structure in load_structures(folder, "train")}


def structure_baselines(folder: str | Path, samples: int, seed: int = 0) -> dict:
    """The baselines on the test split (see the module docstring)."""
    train_tokens = list(load_split(folder, "train", ["tokens"])["tokens"])
    test_tokens = list(load_split(folder, "test", ["tokens"])["tokens"])
    train = [Structure.from_tokens(tokens) for tokens in train_tokens]
    test = [Structure.from_tokens(tokens) for tokens in test_tokens]
    keys = {structure_key(structure) for structure in train}
    rng = np.random.default_rng(seed)
    bigram = BigramModel(train_tokens)
    classes = [STRUCTURE_CLASSES[index % len(STRUCTURE_CLASSES)] for index in range(samples)]
    block_counts = np.array([len(structure.blocks) for structure in train])
    baselines = {
        "shape_grammar": sample_metrics(test, keys),
        "bigram": {
            **sample_metrics([bigram.sample(name, rng) for name in classes], keys),
            "nll": bigram.nll(test_tokens),
        },
        "uniform_random_blocks": sample_metrics(uniform_random_structures(samples, block_counts, rng), keys),
    }
    return {"split": "test", "unit": "structures", "structures": len(test), "samples": samples, "baselines": baselines}


class BlockStructureGenerator(DatasetGenerator):
    """Structures of the shape grammar (see the module docstring)."""

    kind = "block_structures"
    version = "1.2"
    presets = STRUCTURE_PRESETS
    report_baselines = ("shape_grammar", "bigram", "uniform_random_blocks")

    def features(self, preset: StructurePreset):
        from datasets import Features, Sequence, Value

        return Features(
            {
                "tokens": Sequence(Value("int16")),
                "label": Value("int8"),
                "num_blocks": Value("int16"),
                "structure_id": Value("int32"),
                "structure_seed": Value("int64"),
            }
        )

    def environment(self, variant: str | None) -> dict:
        return {}

    def start(self, preset: StructurePreset, seed: int, environment: dict) -> _StructureWorker:
        return _StructureWorker(seed)

    def measure_baselines(self, folder: Path, record: dict) -> dict:
        return structure_baselines(folder, record["preset"]["baseline_samples"])

    def card(self, folder: Path, record: dict, baselines: dict) -> str:
        return _card(record, baselines)

    def describe_baselines(self, results: dict) -> str:
        heading = (
            f"Baselines on the {results['split']} split ({results['structures']} structures; sampling baselines draw "
            f"{results['samples']}):"
        )
        return heading + "\n" + baselines_table(results["baselines"])


_COLUMNS = (
    ("validity", "valid %"),
    ("class_adherence", "class adherence %"),
    ("novelty", "novel %"),
    ("diversity", "diversity (1 - IoU)"),
    ("nll", "NLL (nats/token)"),
)


def baselines_table(baselines: dict, markdown: bool = False) -> str:
    """The baselines as a plain-text (or Markdown) table."""
    from ...tables import baseline_table

    return baseline_table(baselines, _COLUMNS, markdown)


def _card(record: dict, baselines: dict) -> str:
    preset = record["preset"]
    splits = sorted(set(record["splits"]))
    body = f"""# Uruk block structures ({preset["name"]} preset)

Structures built by a **shape grammar written in the library** (`uruk_hf.data.grammar.shapes`), not by people: one
rule per class ({", ".join(STRUCTURE_CLASSES)}) draws proportions, construction and materials, then turns, mirrors
and places the structure on a {LAYOUT.grid_size}^3 grid (y up). A model trained here learns this grammar.
Generated by `uruk_hf` (generator {record["generator_version"]}, seed {record["seed"]}):

```bash
uruk data generate --kind block_structures --preset {preset["name"]} --seed {record["seed"]} --output DIR
```

- {preset["num_structures"]} structures, the classes in turn; splits are disjoint by structure.
- `tokens`: `bos`, the class token, the bounds (6 tokens: the extent and lowest corner of the box that holds the
  blocks), then per block 7 tokens (type of {", ".join(BLOCK_TYPES)}; its extent along x, y, z; its lowest corner
  as an offset from the previous block's, the first block's from the bounds' corner, each in {LAYOUT.grid_size}
  bins, modulo the grid), then `eos` (`uruk_hf.schema.StructureTokenLayout`, {LAYOUT.vocab_size} tokens);
  `label` (the class index), `num_blocks`.
- `uruk_hf.data.grammar.structures.Structure.from_tokens` decodes a row; `.to_scene()` makes its Mitsuba scene.

## Baselines (test split, {baselines["structures"]} structures; sampling baselines draw {baselines["samples"]})

Valid: inside the grid, no overlapping blocks, every block on the ground or on another block. Class adherence: the
library's rule-based classifier names the requested class. Novel: not in the training split. Diversity: mean
`1 - voxel IoU` of random same-class pairs.

{baselines_table(baselines["baselines"], markdown=True)}
"""
    return dataset_card(body, splits, tags=["procedural-generation", "shape-grammar", "voxels", "synthetic", "uruk"])


BLOCK_STRUCTURES = BlockStructureGenerator()
"""The generator of WS8's datasets."""
