"""The shape grammar of WS8: one rule per structure class, each drawing its proportions, construction and materials
from a random generator, so that the same seed always gives the same structure.

Every rule builds bottom-up (a block is placed after the blocks it stands on) in local coordinates, its long axis
along x, and `build_structure` then turns it about the vertical axis (x and z swapped half of the time), mirrors
it and moves it to a random place on the grid.
"""

import itertools

import numpy as np

from ...schema import BLOCK_TYPES, STRUCTURE_CLASSES
from .structures import LAYOUT, Block, Structure

__all__ = ["build_structure"]

_WALL_TYPES = ("stone", "brick", "plaster", "wood")
_TRIM_TYPES = ("wood", "metal", "stone")


def _type(name: str) -> int:
    return BLOCK_TYPES.index(name)


def _pick(rng: np.random.Generator, names) -> int:
    return _type(names[rng.integers(len(names))])


def _split(length: int, rng: np.random.Generator, low: int, high: int) -> list[int]:
    """`length` cut into pieces of `low .. high` cells (the last may be shorter than `low` only when `length` is)."""
    pieces = []
    while length > 0:
        piece = int(min(length, rng.integers(low, high + 1)))
        if 0 < length - piece < low:
            piece = length
        pieces.append(piece)
        length -= piece
    return pieces


def _tower(rng: np.random.Generator) -> list[Block]:
    width = int(rng.integers(3, 8))
    depth = int(np.clip(width + rng.integers(-1, 2), 3, 7))
    target = int(rng.integers(2 * max(width, depth), min(28, 2 * max(width, depth) + 12) + 1))
    main, tapering = _pick(rng, _WALL_TYPES), rng.uniform() < 0.5
    blocks, x, z, top = [], 0, 0, 0
    while top < target:
        height = int(min(rng.integers(2, 5), target - top))
        blocks.append(Block(main, x, top, z, width, height, depth))
        top += height
        if tapering and min(width, depth) >= 5 and rng.uniform() < 0.4:
            x, z, width, depth = x + 1, z + 1, width - 2, depth - 2
    finish = rng.uniform()
    if finish < 0.45:  # crenellations on the corners
        for cx, cz in ((x, z), (x + width - 1, z), (x, z + depth - 1), (x + width - 1, z + depth - 1)):
            blocks.append(Block(main, cx, top, cz, 1, 1, 1))
    elif finish < 0.8:  # a roof, one cell in from the edge
        blocks.append(Block(_type("roof"), x + 1, top, z + 1, width - 2, int(rng.integers(1, 3)), depth - 2))
    return blocks


def _wall(rng: np.random.Generator) -> list[Block]:
    length, thickness = int(rng.integers(12, 31)), int(rng.integers(1, 3))
    height = int(rng.integers(2, min(6, length // 2 - 1) + 1))
    types = [_pick(rng, _WALL_TYPES)]
    if rng.uniform() < 0.4:
        types.append(_pick(rng, _WALL_TYPES))
    blocks, x = [], 0
    for index, piece in enumerate(_split(length, rng, 3, 8)):
        blocks.append(Block(types[index % len(types)], x, 0, 0, piece, height, thickness))
        x += piece
    top = height
    if rng.uniform() < 0.3 and (top + 2) * 2 <= length:  # a second course, its joints staggered
        course = int(rng.integers(1, 3))
        x = 0
        for piece in _split(length, rng, 2, 7):
            blocks.append(Block(types[0], x, top, 0, piece, course, thickness))
            x += piece
        top += course
    if rng.uniform() < 0.5 and (top + 1) * 2 <= length:  # crenellations on every other cell
        start = int(rng.integers(0, 2))
        for x in range(start, length, 2):
            blocks.append(Block(types[-1], x, top, 0, 1, 1, thickness))
    return blocks


def _stairs(rng: np.random.Generator) -> list[Block]:
    rise, run = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    steps = int(rng.integers(4, min(14, 28 // rise) + 1))
    width, main = int(rng.integers(2, 7)), _pick(rng, _WALL_TYPES)
    landing = int(rng.integers(2, 5)) if rng.uniform() < 0.4 else 0
    blocks = []
    if rng.uniform() < 0.5:  # one column per step, from the ground
        for step in range(steps):
            blocks.append(Block(main, step * run, 0, 0, run, (step + 1) * rise, width))
    else:  # slabs, each one step shorter than the one below
        for step in range(steps):
            blocks.append(Block(main, step * run, step * rise, 0, (steps - step) * run, rise, width))
    if landing:
        blocks.append(Block(_pick(rng, _TRIM_TYPES), steps * run, 0, 0, landing, steps * rise, width))
    return blocks


def _arch(rng: np.random.Generator) -> list[Block]:
    pillar, depth, gap = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(2, 9))
    height, main = int(rng.integers(3, 11)), _pick(rng, _WALL_TYPES)
    blocks = []
    for x in (0, pillar + gap):
        if height >= 4 and rng.uniform() < 0.4:  # a pillar of two stacked blocks
            lower = int(rng.integers(2, height - 1))
            blocks += [
                Block(main, x, 0, 0, pillar, lower, depth),
                Block(main, x, lower, 0, pillar, height - lower, depth),
            ]
        else:
            blocks.append(Block(main, x, 0, 0, pillar, height, depth))
    span = 2 * pillar + gap
    overhang = 1 if rng.uniform() < 0.3 else 0
    lintel = int(rng.integers(1, 3))
    lintel_type = main if rng.uniform() < 0.6 else _pick(rng, _TRIM_TYPES)
    blocks.append(Block(lintel_type, -overhang, height, 0, span + 2 * overhang, lintel, depth))
    if rng.uniform() < 0.4:  # a keystone
        size = 1 + (span % 2 == 0)
        blocks.append(Block(main, (span - size) // 2, height + lintel, 0, size, 1, depth))
    if overhang:
        blocks = [Block(b.type, b.x + 1, b.y, b.z, b.size_x, b.size_y, b.size_z) for b in blocks]
    return blocks


def _bridge(rng: np.random.Generator) -> list[Block]:
    length, width, height = int(rng.integers(14, 31)), int(rng.integers(2, 6)), int(rng.integers(2, 9))
    pier = int(rng.integers(1, 3))
    most = max(3, min(5, (length + 2) // (pier + 2)))
    piers = int(rng.integers(3, most + 1))
    starts = [round(index * (length - pier) / (piers - 1)) for index in range(piers)]
    main, deck_type = _pick(rng, _WALL_TYPES), _pick(rng, ("wood", "stone", "metal"))
    blocks = [Block(main, start, 0, 0, pier, height, width) for start in starts]
    # Deck segments end over piers; a segment may span several piers.
    cuts = [0] + [start + pier // 2 for start in starts[1:-1] if rng.uniform() < 0.6] + [length]
    for begin, end in itertools.pairwise(cuts):
        blocks.append(Block(deck_type, begin, height, 0, end - begin, 1, width))
    if width >= 3 and rng.uniform() < 0.6:  # railings on both edges
        rail = _pick(rng, _TRIM_TYPES)
        for z in (0, width - 1):
            for begin, end in itertools.pairwise(cuts):
                blocks.append(Block(rail, begin, height + 1, z, end - begin, 1, 1))
    return blocks


def _house(rng: np.random.Generator) -> list[Block]:
    width, depth, height = int(rng.integers(5, 13)), int(rng.integers(5, 13)), int(rng.integers(3, 7))
    main = _pick(rng, _WALL_TYPES)
    door_width = int(rng.integers(1, 3))
    door = int(rng.integers(1, width - door_width))  # the opening, full wall height, in the front wall
    if rng.uniform() < 0.5:  # front and back walls the whole width, side walls between them
        front, back = (0, width), Block(main, 0, 0, depth - 1, width, height, 1)
        sides = [Block(main, x, 0, 1, 1, height, depth - 2) for x in (0, width - 1)]
    else:  # side walls the whole depth, front and back walls between them
        front, back = (1, width - 1), Block(main, 1, 0, depth - 1, width - 2, height, 1)
        sides = [Block(main, x, 0, 0, 1, height, depth) for x in (0, width - 1)]
    pieces = [(front[0], door), (door + door_width, front[1])]
    blocks = [Block(main, begin, 0, 0, end - begin, height, 1) for begin, end in pieces if end > begin]
    blocks += [back, *sides]
    roof, overhang = _type("roof"), 1 if rng.uniform() < 0.4 else 0
    x, z, roof_width, roof_depth = -overhang, -overhang, width + 2 * overhang, depth + 2 * overhang
    top = height
    layers = 1 if rng.uniform() < 0.4 else int(rng.integers(2, 5))
    for _ in range(layers):
        blocks.append(Block(roof, x, top, z, roof_width, 1, roof_depth))
        top += 1
        x, z, roof_width, roof_depth = x + 1, z + 1, roof_width - 2, roof_depth - 2
        if min(roof_width, roof_depth) < 1:
            break
    if rng.uniform() < 0.3:  # a chimney on the top layer
        last = blocks[-1]
        blocks.append(Block(_type("stone"), last.x, top, last.z, 1, 2, 1))
    if overhang:
        blocks = [Block(b.type, b.x + 1, b.y, b.z + 1, b.size_x, b.size_y, b.size_z) for b in blocks]
    return blocks


_RULES = {"tower": _tower, "wall": _wall, "arch": _arch, "bridge": _bridge, "stairs": _stairs, "house": _house}


def build_structure(class_name: str, rng: np.random.Generator, grid_size: int = LAYOUT.grid_size) -> Structure:
    """A structure of `class_name` drawn from `rng`: the class's rule, turned, mirrored and placed at random on the
    grid (the whole structure inside it)."""
    if class_name not in STRUCTURE_CLASSES:
        raise ValueError(f"Unknown structure class {class_name!r}; choose one of {STRUCTURE_CLASSES}.")
    blocks = _RULES[class_name](rng)
    if rng.uniform() < 0.5:  # turn a quarter about y: swap x and z
        blocks = [Block(b.type, b.z, b.y, b.x, b.size_z, b.size_y, b.size_x) for b in blocks]
    extent_x = max(b.x + b.size_x for b in blocks)
    extent_z = max(b.z + b.size_z for b in blocks)
    if rng.uniform() < 0.5:  # mirror along x
        blocks = [Block(b.type, extent_x - b.x - b.size_x, b.y, b.z, b.size_x, b.size_y, b.size_z) for b in blocks]
    offset_x = int(rng.integers(0, grid_size - extent_x + 1))
    offset_z = int(rng.integers(0, grid_size - extent_z + 1))
    return Structure(
        class_name,
        [Block(b.type, b.x + offset_x, b.y, b.z + offset_z, b.size_x, b.size_y, b.size_z) for b in blocks],
    )
