"""How a set of generated structures is scored (WS8), and the baselines a learned generator is compared with.

- `sample_metrics`: validity rate (no repair), class adherence (the rule-based classifier agrees with the requested
  class), novelty (share not in the training split), distinct share and diversity (mean `1 - voxel IoU` of random
  same-class pairs).
- `box_metrics`: the same validity and class adherence for structures asked for inside a box, and whether they
  keep inside it and fill it.
- `BigramModel`: a token bigram fitted on the training split (add-k smoothing): its held-out NLL is the floor a
  sequence model must beat, and it samples under the same field ranges as the model.
- `uniform_random_structures`: blocks drawn uniformly from each field's range (what a generator that learned
  nothing but the token layout would give).
"""

import numpy as np

from ...schema import BLOCK_FIELDS, STRUCTURE_CLASSES
from .structures import LAYOUT, Block, Structure, classify, pairwise_voxel_distance, structure_key

__all__ = ["BigramModel", "box_metrics", "sample_metrics", "uniform_random_structures"]


def _validity_and_adherence(structures: list[Structure]) -> dict[str, float]:
    """The share of `structures` that are valid (no repair) and the share the classifier names as requested."""
    return {
        "validity": float(np.mean([structure.is_valid for structure in structures])),
        "class_adherence": float(np.mean([classify(s) == s.class_name for s in structures])),
    }


def sample_metrics(structures: list[Structure], train_keys: set | None = None, pairs_per_class: int = 100) -> dict:
    """Scores generated `structures` (each carries its requested class): `validity`, `class_adherence`,
    `novelty` (against `train_keys`, `structure_key`s of the training split; omitted without them),
    `distinct_share` and `diversity`."""
    if not structures:
        raise ValueError("No structures to score.")
    keys = [structure_key(structure) for structure in structures]
    metrics = {**_validity_and_adherence(structures), "distinct_share": len(set(keys)) / len(keys)}
    if train_keys is not None:
        metrics["novelty"] = float(np.mean([key not in train_keys for key in keys]))
    by_class = [[s for s in structures if s.class_name == name and s.blocks] for name in STRUCTURE_CLASSES]
    distances = [pairwise_voxel_distance(group, pairs_per_class) for group in by_class if len(group) >= 2]
    metrics["diversity"] = float(np.mean(distances)) if distances else 0.0
    metrics["mean_blocks"] = float(np.mean([len(structure.blocks) for structure in structures]))
    return metrics


def box_metrics(structures: list[Structure], boxes: list[tuple[int, ...]]) -> dict:
    """Scores structures sampled inside requested `boxes` (one `(x, y, z, size_x, size_y, size_z)` each):
    `box_validity` and `box_class_adherence` (as `sample_metrics`), `box_inside` (every block inside its box) and
    `box_filled` (the blocks' own box is the requested box)."""
    if not structures or len(structures) != len(boxes):
        raise ValueError(f"{len(structures)} structures for {len(boxes)} boxes: one structure per box.")
    inside, filled = [], []
    for structure, box in zip(structures, boxes):
        own = structure.bounds() if structure.blocks else None
        blocks = structure.array()
        low, high = blocks[:, 1:4], blocks[:, 1:4] + blocks[:, 4:7]
        inside.append(
            bool(structure.blocks) and bool((low >= box[:3]).all() and (high <= np.add(box[:3], box[3:])).all())
        )
        filled.append(own == tuple(box))
    return {
        **{f"box_{name}": value for name, value in _validity_and_adherence(structures).items()},
        "box_inside": float(np.mean(inside)),
        "box_filled": float(np.mean(filled)),
    }


class BigramModel:
    """`P(token | previous token)` counted on token sequences, smoothed by adding `alpha` to every count.

    Args:
        sequences: token sequences (each from `bos` to `eos`).
        alpha: the additive smoothing.
    """

    def __init__(self, sequences: list, alpha: float = 0.01, layout=LAYOUT):
        self.layout = layout
        counts = np.full((layout.vocab_size, layout.vocab_size), alpha)
        for sequence in sequences:
            sequence = np.asarray(sequence)
            np.add.at(counts, (sequence[:-1], sequence[1:]), 1.0)
        self.log_probabilities = np.log(counts / counts.sum(axis=1, keepdims=True))

    def nll(self, sequences: list) -> float:
        """Mean negative log-likelihood per predicted token (every token after `bos`), in nats."""
        total, count = 0.0, 0
        for sequence in sequences:
            sequence = np.asarray(sequence)
            total -= self.log_probabilities[sequence[:-1], sequence[1:]].sum()
            count += len(sequence) - 1
        return total / count

    def sample(self, class_name: str, rng: np.random.Generator) -> Structure:
        """A structure of `class_name` sampled token by token at temperature 1, each position restricted to its
        field's tokens (`eos` allowed where a block may start)."""
        layout = self.layout
        tokens = [layout.bos, layout.field_range("class")[layout.classes.index(class_name)]]
        while len(tokens) < layout.max_length:
            field = layout.position_field(len(tokens))
            allowed = list(layout.field_range(field))
            if field == "type":
                allowed = [layout.eos] if len(tokens) >= layout.max_length - 1 else [*allowed, layout.eos]
            logits = self.log_probabilities[tokens[-1], allowed]
            probabilities = np.exp(logits - logits.max())
            token = allowed[rng.choice(len(allowed), p=probabilities / probabilities.sum())]
            if token == layout.eos:
                break
            tokens.append(token)
        return Structure.from_tokens(tokens, layout)


def uniform_random_structures(
    count: int, block_counts: np.ndarray, rng: np.random.Generator, layout=LAYOUT
) -> list[Structure]:
    """`count` structures (classes in turn), each with a block count drawn from `block_counts` and every field of
    every block uniform over its range."""
    structures = []
    for index in range(count):
        blocks = []
        for _ in range(int(rng.choice(block_counts))):
            fields = {"type": int(rng.integers(len(layout.block_types)))}
            for name in BLOCK_FIELDS[1:]:  # corners in 0 .. grid - 1, extents in 1 .. grid
                fields[name] = int(rng.integers(layout.grid_size)) + name.startswith("size_")
            blocks.append(Block(**fields))
        structures.append(Structure(STRUCTURE_CLASSES[index % len(STRUCTURE_CLASSES)], blocks))
    return structures
