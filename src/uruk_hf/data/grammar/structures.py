"""Block structures on a cubic grid (WS8): blocks, their token sequences, the validity rules, the rule-based class
classifier and the Mitsuba scene of a structure.

A structure is a class (one of `STRUCTURE_CLASSES`) and a list of axis-aligned blocks; y is up. It is **valid**
when every block lies inside the grid, no two blocks overlap (share a volume) and every block stands on the ground
(`y == 0`) or on the top face of another block (their footprints share an area). Its class is judged from its
voxels by `classify`, a few rules that the grammar's structures obey (`uruk data baselines` reports how often).
"""

from dataclasses import dataclass, field

import numpy as np

from ...schema import BLOCK_FIELDS, BLOCK_TYPES, BOUNDS_FIELDS, STRUCTURE_CLASSES, StructureTokenLayout

__all__ = [
    "Block",
    "Structure",
    "classify",
    "ground_components",
    "pairwise_voxel_distance",
    "structure_key",
]

LAYOUT = StructureTokenLayout()
"""The token layout of every structure of the library (a 32^3 grid, up to 64 blocks)."""


@dataclass(frozen=True)
class Block:
    """One axis-aligned block: its type (index into `BLOCK_TYPES`), its lowest corner and its extent in cells."""

    type: int
    x: int
    y: int
    z: int
    size_x: int
    size_y: int
    size_z: int

    def as_tuple(self) -> tuple[int, ...]:
        return (self.type, self.x, self.y, self.z, self.size_x, self.size_y, self.size_z)

    @property
    def top(self) -> int:
        """The y of its top face."""
        return self.y + self.size_y


@dataclass
class Structure:
    """A structure: its class name and its blocks, in the order they were placed.

    Attributes:
        class_name (`str`): one of `STRUCTURE_CLASSES`.
        blocks (`list[Block]`): the blocks.
    """

    class_name: str
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self):
        if self.class_name not in STRUCTURE_CLASSES:
            raise ValueError(f"Unknown structure class {self.class_name!r}; choose one of {STRUCTURE_CLASSES}.")

    # Tokens ---------------------------------------------------------------------------------------------------
    def bounds(self, grid_size: int = LAYOUT.grid_size) -> tuple[int, int, int, int, int, int]:
        """The box that holds every block's cells inside the grid (a block reaching past the grid's far side is
        clipped to it): its lowest corner `(x, y, z)` and its extent `(size_x, size_y, size_z)`.

        Raises:
            ValueError: the structure has no blocks.
        """
        if not self.blocks:
            raise ValueError("A structure without blocks has no bounds.")
        blocks = self.array()
        low = blocks[:, 1:4].min(axis=0)
        high = np.minimum(blocks[:, 1:4] + blocks[:, 4:7], grid_size).max(axis=0)
        return (*(int(value) for value in low), *(int(value) for value in high - low))

    def to_tokens(
        self, layout: StructureTokenLayout = LAYOUT, end: bool = True, bounds: tuple[int, ...] | None = None
    ) -> list[int]:
        """The token sequence: `bos`, the class, the bounds (their extent, then their lowest corner), each block's
        fields (`StructureTokenLayout`: its extent, then its corner as an offset from the previous block's, the
        first block's from the bounds' corner), and `eos` unless `end` is False (a prefix to complete with
        `generate`).

        Args:
            layout (`StructureTokenLayout`): the vocabulary.
            end (`bool`): whether the sequence is whole (`eos` at the end) or a prefix to complete.
            bounds (`tuple[int, ...]`, *optional*): for a prefix, the box `(x, y, z, size_x, size_y, size_z)` the
                completed structure should fill (its blocks' own box, `bounds()`, when not given and there are
                blocks; a prefix without blocks and bounds is `bos` and the class, and the model chooses the box).
                A whole structure always writes its own box.

        Raises:
            ValueError: a block has an unknown type or lies outside the grid, or there are too many blocks; the
                bounds lie outside the grid or do not hold the blocks; a whole structure has no blocks.
        """
        if len(self.blocks) > layout.max_blocks:
            raise ValueError(f"{len(self.blocks)} blocks: a structure holds at most {layout.max_blocks}.")
        grid = layout.grid_size
        tokens = [layout.bos, layout.field_range("class")[layout.classes.index(self.class_name)]]
        for index, block in enumerate(self.blocks):
            corner, extent = (block.x, block.y, block.z), (block.size_x, block.size_y, block.size_z)
            known_type = 0 <= block.type < len(layout.block_types)
            if not (known_type and all(0 <= c < grid for c in corner) and all(1 <= e <= grid for e in extent)):
                raise ValueError(f"Block {index} ({block}) has an unknown type or lies outside the grid.")
        if end or bounds is None:
            if not self.blocks:
                if end:
                    raise ValueError("A whole structure needs at least one block (its bounds are its blocks' box).")
                return tokens
            bounds = self.bounds(grid)
        bounds = tuple(int(value) for value in bounds)
        corner, extent = bounds[:3], bounds[3:]
        if len(bounds) != 6 or not all(c >= 0 and e >= 1 and c + e <= grid for c, e in zip(corner, extent)):
            raise ValueError(f"bounds {bounds} must be (x, y, z, size_x, size_y, size_z) inside the {grid}^3 grid.")
        if self.blocks and not _box_holds(bounds, self.bounds(grid)):
            raise ValueError(f"bounds {bounds} do not hold the blocks (their box is {self.bounds(grid)}).")
        values = {
            **{f"bounds_size_{axis}": e % grid for axis, e in zip("xyz", extent)},
            **{f"bounds_{axis}": c for axis, c in zip("xyz", corner)},
        }
        tokens += [layout.field_range(name)[values[name]] for name in BOUNDS_FIELDS]
        previous = corner
        for block in self.blocks:
            corner, extent = (block.x, block.y, block.z), (block.size_x, block.size_y, block.size_z)
            values = {
                "type": block.type,
                **{f"size_{axis}": e % grid for axis, e in zip("xyz", extent)},
                **{axis: (c - p) % grid for axis, c, p in zip("xyz", corner, previous)},
            }
            tokens += [layout.field_range(name)[values[name]] for name in BLOCK_FIELDS]
            previous = corner
        return tokens + ([layout.eos] if end else [])

    @classmethod
    def from_tokens(cls, tokens, layout: StructureTokenLayout = LAYOUT) -> "Structure":
        """The structure of a token sequence (as `to_tokens` writes or `generate` returns; padding and anything
        after `eos` ignored, a trailing incomplete block dropped). Offsets add up modulo the grid, so every corner
        decodes inside it; a block may still reach past the grid's far side (`validity` counts it). The bounds
        place the first block; that the blocks keep inside them is not required.

        Raises:
            ValueError: a token is not of its position's field (the message names the position and field).
        """
        tokens = [int(token) for token in tokens]
        if len(tokens) < 2 or tokens[0] != layout.bos or tokens[1] not in layout.field_range("class"):
            raise ValueError(
                f"A structure's tokens start with bos ({layout.bos}) and a class token, got {tokens[:2]}."
            )
        class_name = layout.classes[tokens[1] - layout.class_start]
        blocks, fields, previous = [], {}, dict.fromkeys("xyz", 0)
        for position in range(2, len(tokens)):
            token, name = tokens[position], layout.position_field(position)
            if token in (layout.eos, layout.pad) and name in ("type", BOUNDS_FIELDS[0]):
                break
            span = layout.field_range(name)
            if token not in span:
                raise ValueError(f"Token {token} at position {position} is not a {name!r} token ({span}).")
            value = token - span.start
            if name.startswith("bounds_"):  # the bounds' corner is where the first block's offsets start
                if name.removeprefix("bounds_") in previous:
                    previous[name.removeprefix("bounds_")] = value
                continue
            if name in previous:
                value = previous[name] = (previous[name] + value) % layout.grid_size
            elif name.startswith("size_"):
                value = value or layout.grid_size
            fields[name] = value
            if len(fields) == len(BLOCK_FIELDS):
                blocks.append(Block(**fields))
                fields = {}
        return cls(class_name, blocks)

    # Geometry -------------------------------------------------------------------------------------------------
    def array(self) -> np.ndarray:
        """`(blocks, 7)` int array of the blocks' type, corner (x, y, z) and extent (`Block.as_tuple`)."""
        return np.array([block.as_tuple() for block in self.blocks], np.int64).reshape(-1, len(BLOCK_FIELDS))

    def voxels(self, grid_size: int = LAYOUT.grid_size) -> np.ndarray:
        """`(x, y, z)` bool occupancy of the blocks clipped to the grid."""
        occupancy = np.zeros((grid_size,) * 3, bool)
        for block in self.blocks:
            occupancy[
                max(block.x, 0) : block.x + block.size_x,
                max(block.y, 0) : block.y + block.size_y,
                max(block.z, 0) : block.z + block.size_z,
            ] = True
        return occupancy

    def validity(self, grid_size: int = LAYOUT.grid_size) -> dict[str, bool]:
        """The validity rules, each `True` when it holds: `has_blocks`, `in_bounds`, `no_overlap`, `supported`,
        and `valid` (all of them)."""
        blocks = self.array()
        if len(blocks) == 0:
            return {"has_blocks": False, "in_bounds": True, "no_overlap": True, "supported": True, "valid": False}
        low, size = blocks[:, 1:4], blocks[:, 4:7]
        high = low + size
        in_bounds = bool((low >= 0).all() and (high <= grid_size).all() and (size >= 1).all())
        # Pairwise interval overlaps per axis (positive length), and the xz footprints' shared area.
        overlaps = (np.minimum(high[:, None], high[None]) - np.maximum(low[:, None], low[None])) > 0
        others = ~np.eye(len(blocks), dtype=bool)
        no_overlap = not (overlaps.all(axis=-1) & others).any()
        footprint_shared = overlaps[..., 0] & overlaps[..., 2] & others
        resting = high[None, :, 1] == low[:, None, 1]  # [i, j]: block j's top is block i's bottom
        supported = bool(((low[:, 1] == 0) | (footprint_shared & resting).any(axis=1)).all())
        valid = in_bounds and no_overlap and supported
        return {"has_blocks": True, "in_bounds": in_bounds, "no_overlap": no_overlap, "supported": supported,
                "valid": valid}  # fmt: skip

    @property
    def is_valid(self) -> bool:
        """Whether every validity rule holds (`validity`)."""
        return self.validity()["valid"]

    def to_scene(self, seed: int = 0, cell_size: float = 0.25, frames: int = 1):
        """A Mitsuba-ready `SceneSpec`: one textured box per block (its type's material class of the library),
        on a ground plane under a sun and sky, with a camera orbiting the structure (`frames` views); a cell is
        `cell_size` metres. Render it with `uruk_hf.data.rendering.render.ClipRenderer`."""
        from .scene import structure_scene

        return structure_scene(self, seed, cell_size, frames)


def _box_holds(outer: tuple[int, ...], inner: tuple[int, ...]) -> bool:
    """Whether the box `inner` lies inside the box `outer` (both `(x, y, z, size_x, size_y, size_z)`)."""
    return all(outer[a] <= inner[a] and inner[a] + inner[a + 3] <= outer[a] + outer[a + 3] for a in range(3))


def structure_key(structure: Structure) -> tuple:
    """A hashable identity of a structure that ignores the order of its blocks (for novelty and duplicates)."""
    return (structure.class_name, tuple(sorted(block.as_tuple() for block in structure.blocks)))


def ground_components(voxels: np.ndarray) -> int:
    """Connected groups (4-neighbourhood) of occupied cells on the ground layer `y == 0`."""
    from scipy import ndimage

    return int(ndimage.label(voxels[:, 0, :])[1])


def _has_span(voxels: np.ndarray) -> bool:
    """Whether some column has an occupied cell above an empty ground cell (something bridges open space)."""
    above = voxels[:, 1:, :].any(axis=1)
    return bool((above & ~voxels[:, 0, :]).any())


def _enclosed(voxels: np.ndarray) -> bool:
    """Whether some empty cell has occupied cells above it and in all four horizontal directions (a room)."""

    def blocked(axis: int, reverse: bool) -> np.ndarray:
        """Cells with an occupied cell at or before them along `axis` (from its far end when `reverse`)."""
        flipped = np.flip(voxels, axis) if reverse else voxels
        hit = np.logical_or.accumulate(flipped, axis=axis)
        return np.flip(hit, axis) if reverse else hit

    walls = blocked(0, False) & blocked(0, True) & blocked(2, False) & blocked(2, True)
    return bool((~voxels & walls & blocked(1, True)).any())


def _monotonic_profile(voxels: np.ndarray, levels: int = 4) -> bool:
    """Whether the height profile along x or z (the highest top per slice of the structure's extent) rises or
    falls without turning back, through at least `levels` heights."""
    top_of = np.where(voxels, np.arange(voxels.shape[1])[None, :, None] + 1, 0)
    for profile in (top_of.max(axis=(1, 2)), top_of.max(axis=(0, 1))):
        profile = profile[profile > 0]
        steps = np.diff(profile)
        if len(np.unique(profile)) >= levels and ((steps >= 0).all() or (steps <= 0).all()):
            return True
    return False


def classify(structure: Structure) -> str:
    """The class a structure's shape says, by rules in this order: a room enclosed on four sides and covered is a
    `house`; anything over open ground with exactly two ground supports is an `arch`, with three or more a
    `bridge`; a height profile that climbs through four or more levels is `stairs`; at least 1.6 times as tall as
    its footprint is wide (a compact footprint) is a `tower`; at least 4 times as long as thick and lower than half
    its length is a `wall`; anything else is `"unknown"`."""
    voxels = structure.voxels()
    if not voxels.any():
        return "unknown"
    occupied = [np.where(voxels.any(axis=axes))[0] for axes in ((1, 2), (0, 2), (0, 1))]
    width, height, depth = (int(cells[-1] - cells[0] + 1) for cells in occupied)
    if _enclosed(voxels):
        return "house"
    if _has_span(voxels):
        supports = ground_components(voxels)
        return "arch" if supports == 2 else "bridge" if supports >= 3 else "unknown"
    if _monotonic_profile(voxels):
        return "stairs"
    long, short = max(width, depth), min(width, depth)
    if height >= 1.6 * long and long <= 2 * short:
        return "tower"
    if long >= 4 * short and height * 2 <= long:
        return "wall"
    return "unknown"


def pairwise_voxel_distance(structures: list[Structure], pairs: int = 200, seed: int = 0) -> float:
    """The mean `1 - IoU` of the voxels of random pairs of `structures`, each moved to the grid's corner first (the
    lowest x and z of its blocks at 0), so that where a structure stands does not count: 0 when all are the same
    shape, 1 when no pair shares a cell."""
    if len(structures) < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    voxels = []
    for structure in structures:
        low_x = min(block.x for block in structure.blocks)
        low_z = min(block.z for block in structure.blocks)
        moved = [Block(b.type, b.x - low_x, b.y, b.z - low_z, b.size_x, b.size_y, b.size_z) for b in structure.blocks]
        voxels.append(Structure(structure.class_name, moved).voxels())
    distances = []
    for _ in range(pairs):
        first, second = rng.choice(len(voxels), 2, replace=False)
        union = (voxels[first] | voxels[second]).sum()
        distances.append(1.0 - (voxels[first] & voxels[second]).sum() / union if union else 0.0)
    return float(np.mean(distances))


BLOCK_MATERIALS = dict(zip(BLOCK_TYPES, ("stone", "ceramic", "wood", "plastic", "painted_metal", "metal")))
"""The library material class (`uruk_hf.schema.MATERIAL_CLASSES`) each block type is rendered with."""
