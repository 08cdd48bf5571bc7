"""Sampling block structures that are valid by construction: a `LogitsProcessor` for `generate()` that, at every
block field, leaves only the tokens with which the block can still be completed inside the grid, on the ground or
on another block, and free of the blocks before it (the validity rules of `Structure.validity`).

This is constrained decoding, not repair: no sampled token is changed afterwards; the model's distribution is
renormalized over the tokens that keep the structure valid, as grammar-constrained decoding does for text. Its
samples are reported beside the unconstrained ones, never in their place.
"""

import numpy as np
import torch
from transformers import LogitsProcessor

from ...schema import BLOCK_FIELDS
from .structures import LAYOUT, Structure

__all__ = ["StructureValidityLogitsProcessor", "occupancy_sums", "valid_placements"]


def occupancy_sums(structure: Structure, grid_size: int = LAYOUT.grid_size) -> np.ndarray:
    """The 3D summed-area table of `structure`'s voxels, one larger than the grid on each axis (so the occupied
    cells of any box are eight lookups): what `valid_placements` reads."""
    occupancy = structure.voxels(grid_size)
    table = np.zeros(tuple(side + 1 for side in occupancy.shape), np.int32)
    table[1:, 1:, 1:] = occupancy.astype(np.int32).cumsum(0).cumsum(1).cumsum(2)
    return table


def _box_sums(table: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """`(G - sx + 1, G - sy + 1, G - sz + 1)`: the occupied cells of the box of extent `size` at every lowest corner
    that keeps it inside the grid, from eight shifted views of the summed-area `table` (no index arrays)."""
    grid = table.shape[0] - 1
    (sx, sy, sz), (nx, ny, nz) = size, (grid - size[0] + 1, grid - size[1] + 1, grid - size[2] + 1)

    def view(x: int, y: int, z: int) -> np.ndarray:
        return table[x : x + nx, y : y + ny, z : z + nz]

    return (
        view(sx, sy, sz) - view(0, sy, sz) - view(sx, 0, sz) - view(sx, sy, 0)
        + view(0, 0, sz) + view(0, sy, 0) + view(sx, 0, 0) - view(0, 0, 0)
    )  # fmt: skip


def valid_placements(table: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """`(G, G, G)` bool: for every cell, whether a block of extent `size` with its lowest corner there is valid
    beside the blocks whose voxels `table` sums (`occupancy_sums`): inside the grid, sharing no cell with them, and on
    the ground or over an occupied cell (with no shared cell, the block below then has its top face there)."""
    grid = table.shape[0] - 1
    placements = np.zeros((grid,) * 3, bool)
    if any(not 1 <= side <= grid for side in size):
        return placements
    free = _box_sums(table, size) == 0
    below = _box_sums(table, (size[0], 1, size[2]))  # the layer under a corner at y is the one-high box at y - 1
    supported = np.ones_like(free)
    supported[:, 1:] = below[:, : free.shape[1] - 1] > 0
    placements[tuple(slice(0, side) for side in free.shape)] = free & supported
    return placements


def _largest_fitting(fits, grid: int) -> int:
    """The largest extent in `1 .. grid` for which `fits` holds (0 if none), by bisection: whether a block fits
    only gets harder as one of its extents grows (a smaller block fits inside the larger one's place, over the same
    support)."""
    low, high = 0, grid
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


class StructureValidityLogitsProcessor(LogitsProcessor):
    """Masks, at each position, the tokens after which the structure could no longer be valid: a block's extents
    only where a block that large still fits somewhere (a smaller one then always does), its corner offsets only
    towards cells where it fits, and `eos` or a new block's type once the block before is whole. Use it after
    `StructureFieldLogitsProcessor` (which `UrukWS8StructureGenerator.generate` inserts):
    `model.generate(prompt, logits_processor=[StructureValidityLogitsProcessor()])`.

    Args:
        layout (`StructureTokenLayout`): the vocabulary (the model config's `token_layout()`).
    """

    def __init__(self, layout=LAYOUT):
        self.layout = layout
        self._cache = {}

    def _cached(self, key: tuple, compute) -> np.ndarray:
        """`compute()`, kept under `key` while its sequence is being extended: the summed-area table of a prefix's
        whole blocks, and the placements of the block being placed, which its x, y and z steps all read."""
        if key not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = compute()
        return self._cache[key]

    def allowed(self, tokens: list[int]) -> list[int] | None:
        """The token ids allowed after `tokens` (a sequence from `bos`, no padding), or `None` when this processor
        leaves the position to the field processor (`bos`, the class and the bounds: a box need not be filled)."""
        layout, grid = self.layout, self.layout.grid_size
        if len(tokens) < layout.blocks_start:
            return None
        structure = Structure.from_tokens(tokens, layout)
        start = layout.blocks_start + len(BLOCK_FIELDS) * len(structure.blocks)
        prefix = tuple(tokens[:start])
        table = self._cached(prefix, lambda: occupancy_sums(structure, grid))
        field = layout.position_field(len(tokens))
        values = [token - layout.field_range(name).start for token, name in zip(tokens[start:], BLOCK_FIELDS)]
        sizes = [value or grid for value in values[1:4]]
        if field == "type":
            room = valid_placements(table, (1, 1, 1)).any() and len(structure.blocks) < layout.max_blocks
            types = list(layout.field_range("type")) if room else []
            return types + ([layout.eos] if structure.blocks or not room else [])
        if field.startswith("size_"):  # the extents so far, this one, and 1 for those to come
            largest = _largest_fitting(lambda size: valid_placements(table, (*sizes, size, 1, 1)[:3]).any(), grid)
            return [layout.field_range(field)[size % grid] for size in range(1, largest + 1)]
        if structure.blocks:
            origin = (structure.blocks[-1].x, structure.blocks[-1].y, structure.blocks[-1].z)
        else:  # the first block's offsets start at the bounds' corner, the three tokens before it
            corner = tokens[layout.blocks_start - 3 : layout.blocks_start]
            origin = tuple(token - layout.field_range(axis).start for token, axis in zip(corner, "xyz"))
        placements = self._cached((prefix, tuple(sizes)), lambda: valid_placements(table, tuple(sizes)))
        corner = [(origin[axis] + offset) % grid for axis, offset in enumerate(values[4:])]
        reachable = placements[tuple(corner)].reshape(grid, -1).any(axis=1)
        axis = "xyz".index(field)
        return [layout.field_range(field)[(cell - origin[axis]) % grid] for cell in np.flatnonzero(reachable)]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        keep = torch.ones_like(scores, dtype=torch.bool)
        for row, sequence in enumerate(input_ids.tolist()):
            allowed = self.allowed([token for token in sequence if token != self.layout.pad])
            if allowed is not None:
                keep[row] = False
                keep[row, allowed] = True
        return scores.masked_fill(~keep, float("-inf"))
