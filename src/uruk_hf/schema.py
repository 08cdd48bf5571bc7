"""Named input buffers, the layouts built from them, and the semantic material classes (DESIGN §2).

Everything that knows what a buffer *is* (its channel count, its physical meaning, how it is normalized before a
network sees it) reads it from here: model configs, the G-buffer processor and the data generator. A layout is an
ordered list of `{"name": ..., "channels": ...}` entries, so a user with another engine edits a list, not code.
"""

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BLOCK_FIELDS",
    "BLOCK_TYPES",
    "BOUNDS_FIELDS",
    "BUFFER_SPECS",
    "GBUFFER_LAYOUT",
    "MATERIAL_CLASSES",
    "MATERIAL_ID_SLOTS",
    "NPC_MOVES",
    "NPC_OBSERVATION_FEATURES",
    "NPC_STATES",
    "OPTIONAL_ZERO_BUFFERS",
    "RAY_RECONSTRUCTION_LAYOUT",
    "RELIGHTING_INPUTS",
    "STRUCTURE_CLASSES",
    "V2_LAYOUT",
    "WORLD_BORDER_RADIUS",
    "WORLD_CENTRE_RADIUS",
    "WORLD_HEIGHT_LINEAR_KNOBS",
    "WORLD_KNOBS",
    "WORLD_MAP_CHANNELS",
    "WORLD_MATERIALS",
    "WS4_LAYOUT",
    "WS5_LAYOUT",
    "WS6_LAYOUT",
    "BufferSpec",
    "StructureTokenLayout",
    "layout_channels",
    "layout_slice",
    "make_layout",
    "world_height_knob_patterns",
]


MATERIAL_ID_SLOTS = 256
"""`material_id` values are integers `0 .. MATERIAL_ID_SLOTS - 1` (one per surface of a frame; 0 on background)."""


@dataclass(frozen=True)
class BufferSpec:
    """What one named raw buffer holds.

    Attributes:
        channels (`int`): channel count of the buffer.
        transform (`str`): how `UrukGBufferProcessor` normalizes it; one of `"identity"`, `"log1p"` (non-negative
            quantities with a long tail: radiance, distance, emission), `"symlog"` (signed unbounded quantities:
            world positions, motion in pixels; `sign(x) * log1p(|x|)`) and `"material_id"` (integer ids
            `0 .. MATERIAL_ID_SLOTS - 1` scaled to `[0, 1]`).
        non_negative (`bool`): values below zero are physically impossible and rejected.
        description (`str`): the physical meaning and unit, used in docs and dataset cards.
        resolution_divisor (`int`): the buffer is rendered at `1 / resolution_divisor` of the frame's width and
            height (an engine's low-resolution colour pass). Datasets and `pixel_values` hold it at full size, each
            low-resolution pixel repeated over the `resolution_divisor x resolution_divisor` pixels it covers;
            `UrukGBufferProcessor` accepts it either way.
    """

    channels: int
    transform: str
    non_negative: bool
    description: str
    resolution_divisor: int = 1


BUFFER_SPECS: dict[str, BufferSpec] = {
    "albedo": BufferSpec(3, "identity", True, "diffuse reflectance (textured base colour), linear, [0, 1]"),
    "normal": BufferSpec(3, "identity", False, "world-space unit shading normal"),
    "depth": BufferSpec(1, "log1p", True, "distance from the camera to the surface, scene units; 0 on background"),
    "roughness": BufferSpec(1, "identity", True, "principled BSDF roughness, [0, 1]"),
    "metallic": BufferSpec(1, "identity", True, "principled BSDF metallic, [0, 1]"),
    "specular": BufferSpec(1, "identity", True, "principled BSDF specular, [0, 1]"),
    "emissive": BufferSpec(1, "log1p", True, "emitted radiance (luminance), linear HDR"),
    "material_id": BufferSpec(
        1,
        "material_id",
        True,
        "per-object integer id in 0..255, randomized per scene (not the class); 0 on background",
    ),
    "direct": BufferSpec(3, "log1p", True, "direct illumination, all emitters, 16 spp, box filter, linear HDR"),
    "path_1spp": BufferSpec(3, "log1p", True, "path-traced radiance, 1 spp, box filter, linear HDR"),
    "path_half": BufferSpec(
        3,
        "log1p",
        True,
        "path-traced radiance at half the width and height, 4 spp, box filter, linear HDR (each pixel repeated 2x2)",
        resolution_divisor=2,
    ),
    "position": BufferSpec(3, "symlog", False, "world-space surface position, scene units"),
    "view": BufferSpec(3, "identity", False, "unit vector from the surface point to the camera"),
    "motion": BufferSpec(2, "symlog", False, "pixel offset to where this surface point was in the previous frame"),
    "history": BufferSpec(3, "log1p", True, "the model's own previous output reprojected by motion, linear HDR"),
    "history_valid": BufferSpec(1, "identity", True, "1 where the history reprojection is valid, else 0"),
    "uv": BufferSpec(2, "identity", False, "texture coordinates"),
    "ao": BufferSpec(1, "identity", True, "cosine-weighted unoccluded fraction of the hemisphere, [0, 1]"),
    "shadow": BufferSpec(1, "identity", True, "visible fraction of the strongest light (1 lit, 0 occluded)"),
    "mask": BufferSpec(1, "identity", True, "1 on geometry, 0 on background"),
    "source_frame": BufferSpec(3, "log1p", True, "the rendered frame under the source lighting preset, linear HDR"),
    "target_shadow": BufferSpec(
        1,
        "identity",
        True,
        "visibility of the target preset's key light (the sun by day, the strongest lamp at night; 0 under overcast), "
        "as an engine's shadow map for that time of day gives it",
    ),
    "target_irradiance": BufferSpec(
        3,
        "log1p",
        True,
        "unshadowed irradiance of the target preset's lights (sun, sky, lamps and glowing props) at the surface, "
        "linear HDR, as an engine's deferred lighting pass computes it from its light list",
    ),
    "target_key_irradiance": BufferSpec(
        3,
        "log1p",
        True,
        "the part of target_irradiance that comes from the target's key light (the light target_shadow is the "
        "visibility of), linear HDR; times target_shadow, the direct light of an engine's shadowed key-light pass",
    ),
    "target_key_specular": BufferSpec(
        3,
        "log1p",
        True,
        "the target's key light reflected by the GGX specular lobe of each pixel's material towards the camera, "
        "unshadowed, linear HDR; times target_shadow, the glossy part of an engine's shadowed key-light pass",
    ),
    "source_emission": BufferSpec(
        3,
        "log1p",
        True,
        "radiance seen directly from emitters and the sky under the source lighting preset (the part of the source "
        "frame that no surface reflects), linear HDR, as an engine's emissive and sky passes draw it",
    ),
    "target_emission": BufferSpec(
        3,
        "log1p",
        True,
        "radiance seen directly from emitters and the sky under the target lighting preset (lamps lit at night, "
        "that time of day's sky), linear HDR, as an engine's emissive and sky passes draw it",
    ),
}

# Buffers that may be left out of a processor call: a clip's first frame has no history (zeros, invalid).
OPTIONAL_ZERO_BUFFERS = ("history", "history_valid")


def make_layout(names: list[str]) -> list[dict]:
    """Builds a layout (ordered `{"name", "channels"}` entries) from buffer names known to `BUFFER_SPECS`."""
    unknown = [name for name in names if name not in BUFFER_SPECS]
    if unknown:
        raise ValueError(f"Unknown buffer names {unknown}; known buffers are {sorted(BUFFER_SPECS)}.")
    return [{"name": name, "channels": BUFFER_SPECS[name].channels} for name in names]


def layout_channels(layout: list[dict]) -> int:
    """Total channel count of a layout."""
    return sum(int(entry["channels"]) for entry in layout)


def layout_slice(layout: list[dict], name: str) -> slice:
    """The channel slice of buffer `name` in a tensor packed in `layout` order.

    Raises:
        ValueError: `name` is not in the layout (the message lists the layout's buffers).
    """
    start = 0
    for entry in layout:
        if entry["name"] == name:
            return slice(start, start + int(entry["channels"]))
        start += int(entry["channels"])
    raise ValueError(f"Buffer {name!r} is not in input_buffers {[e['name'] for e in layout]}.")


_GBUFFER_NAMES = ["albedo", "normal", "depth", "roughness", "metallic", "specular", "emissive", "material_id"]
_V2_TAIL = ["position", "view", "motion", "history", "history_valid", "uv", "ao", "shadow", "mask"]

GBUFFER_LAYOUT = make_layout(_GBUFFER_NAMES)
"""The 12-channel G-buffer shared by every renderer."""

V2_LAYOUT = make_layout([*_GBUFFER_NAMES, "direct", *_V2_TAIL])
"""V2-Ultra / V2-Optimized, 32 channels: the G-buffer, a cheap direct-light render and screen-space extras."""

RAY_RECONSTRUCTION_LAYOUT = make_layout([*_GBUFFER_NAMES, "path_1spp", *_V2_TAIL])
"""Also 32 channels: the V2 layout with a 1-spp path-traced frame in place of `direct` (where OIDN would run)."""

WS5_LAYOUT = make_layout([*_GBUFFER_NAMES, "direct", "position", "ao"])
"""WS5 cinematic renderer, 19 channels."""

RELIGHTING_INPUTS = (
    "source_frame",
    "source_emission",
    "target_shadow",
    "target_irradiance",
    "target_key_irradiance",
    "target_key_specular",
    "target_emission",
)
"""The WS4 inputs that depend on the (source, target) preset pair: a `relighting_pairs` dataset stores them per
preset, and its task picks them per pair."""

WS4_LAYOUT = make_layout([*_GBUFFER_NAMES, "position", "ao", *RELIGHTING_INPUTS])
"""WS4 world remapper, 35 channels: the G-buffer, world position, ambient occlusion, the frame under the source
lighting preset and its directly seen emission, the target preset's key-light visibility, its lights' unshadowed
irradiance (all of it, and its key light's part), its key light's specular reflection and its directly seen
emission."""

WS6_LAYOUT = make_layout([*_GBUFFER_NAMES, "path_half", "motion", "history", "history_valid"])
"""WS6 runtime optimization, 21 channels: the full-resolution G-buffer, a half-resolution path-traced render, motion
and the model's own reprojected previous output."""

MATERIAL_CLASSES = [
    "metal",
    "painted_metal",
    "wood",
    "stone",
    "plastic",
    "fabric",
    "ceramic",
    "rubber",
]
"""Semantic material classes predicted per pixel by the V2 models (`id2label` order)."""

NPC_STATES = ("idle", "patrol", "investigate", "alert", "chase", "attack", "flee", "return")
"""The NPC's behaviour states (NPC Director's `id2label` order, the FSM's states)."""

NPC_MOVES = ("stay", "n", "ne", "e", "se", "s", "sw", "w", "nw")
"""The NPC's moves on the grid: stay, then the 8 directions (north is up)."""

NPC_OBSERVATION_FEATURES = (
    "position_x",
    "position_y",
    "facing_sin",
    "facing_cos",
    "health",
    "ammo",
    *(f"ray_{name}" for name in ("n", "ne", "e", "se", "s", "sw", "w", "nw")),
    "player_visible",
    "player_dx",
    "player_dy",
    "player_distance",
    "noise_heard",
    "noise_dx",
    "noise_dy",
    "noise_loudness",
    *(f"previous_move_{name}" for name in NPC_MOVES),
    "hit_taken",
    "home_dx",
    "home_dy",
)
"""The per-tick observation vector, in order (positions normalized by the map size, ranges by the sensor range).
The previous move is the NPC's own (in closed loop: the controller's)."""


STRUCTURE_CLASSES = ("tower", "wall", "arch", "bridge", "stairs", "house")
"""The classes of block structures the shape grammar builds (WS8's class tokens, in order)."""

BLOCK_TYPES = ("stone", "brick", "wood", "plaster", "roof", "metal")
"""What a block is made of (WS8's block-type tokens, in order)."""

BLOCK_FIELDS = ("type", "size_x", "size_y", "size_z", "x", "y", "z")
"""The tokens of one block, in order: its type, its extent and its lowest corner on the grid (y is up)."""

BOUNDS_FIELDS = tuple(f"bounds_{name}" for name in BLOCK_FIELDS[1:])
"""The tokens of a structure's bounds, the box that holds all its blocks, before its first block: its extent and its
lowest corner, each in the range of the block field of the same name."""


@dataclass(frozen=True)
class StructureTokenLayout:
    """The token vocabulary of block structures (WS8): `bos`, one class token, the structure's **bounds** (one token
    per field of `BOUNDS_FIELDS`), then per block one token per field of `BLOCK_FIELDS`, then `eos`; shorter
    sequences are padded with `pad`.

    Token ids: `pad` 0, `bos` 1, `eos` 2, the classes, the block types, then one range of `grid_size` tokens per
    coordinate field, so that every field has its own range and no id is shared between fields. A `size_*` token
    is the extent modulo `grid_size` (a full-grid extent is 0). An `x`, `y` or `z` token is the **offset** of the
    block's lowest corner from the previous block's, modulo `grid_size` (the first block's from the bounds'
    corner): a block stacked on the one before has `y` offset equal to that one's height, a wall piece beside it an
    `x` offset equal to its length, the same value as that size token, so placing a block is a copy where absolute
    cells would ask for a sum. The extent comes before the corner, so a block can be placed knowing its own size
    (a mirrored wall is laid towards lower x). The bounds come first, extent then corner (from the grid's origin),
    written with the block fields' tokens: the structure's size is decided, and placed inside the grid, before
    its first block, so that a long wall or a wide arch does not find the grid's edge halfway through.

    Attributes:
        grid_size (`int`): cells per axis (positions and extents in `0 .. grid_size - 1`, extents `1 .. grid_size`).
        max_blocks (`int`): blocks per structure at most.
        classes (`tuple[str, ...]`): the structure classes.
        block_types (`tuple[str, ...]`): the block types.
    """

    grid_size: int = 32
    max_blocks: int = 64
    classes: tuple[str, ...] = STRUCTURE_CLASSES
    block_types: tuple[str, ...] = BLOCK_TYPES

    pad: int = 0
    bos: int = 1
    eos: int = 2

    @property
    def class_start(self) -> int:
        """The id of the first class token."""
        return 3

    @property
    def blocks_start(self) -> int:
        """The position of the first block's first token (after `bos`, the class and the bounds)."""
        return 2 + len(BOUNDS_FIELDS)

    def field_range(self, field: str) -> range:
        """The token ids of `field`: `"class"`, one of `BLOCK_FIELDS` or one of `BOUNDS_FIELDS` (the range of the
        block field of the same name)."""
        field = field.removeprefix("bounds_")
        if field == "class":
            return range(self.class_start, self.class_start + len(self.classes))
        start = self.class_start + len(self.classes)
        if field == "type":
            return range(start, start + len(self.block_types))
        start += len(self.block_types)
        index = BLOCK_FIELDS.index(field) - 1  # raises ValueError for an unknown field
        return range(start + index * self.grid_size, start + (index + 1) * self.grid_size)

    @property
    def vocab_size(self) -> int:
        """Tokens in the vocabulary."""
        return self.field_range(BLOCK_FIELDS[-1]).stop

    @property
    def max_length(self) -> int:
        """The longest sequence: `bos`, the class, the bounds, `max_blocks` blocks and `eos`."""
        return self.blocks_start + self.max_blocks * len(BLOCK_FIELDS) + 1

    def position_field(self, position: int) -> str:
        """The field of the token at `position` of a sequence: `"bos"`, `"class"`, a bounds field or a block field
        (whose `"type"` positions may also hold `eos`)."""
        if position == 0:
            return "bos"
        if position == 1:
            return "class"
        if position < self.blocks_start:
            return BOUNDS_FIELDS[position - 2]
        return BLOCK_FIELDS[(position - self.blocks_start) % len(BLOCK_FIELDS)]


WORLD_MATERIALS = ("water", "sand", "grass", "forest", "wetland", "rock", "snow")
"""The surface classes of a world map (WS3), one one-hot channel each."""

WORLD_MAP_CHANNELS = ("height", *(f"material_{name}" for name in WORLD_MATERIALS), "props")
"""The channels of a world map as a model sees it: normalized height, the material one-hots, the props' local
density (`uruk_hf.data.terrain.worldmap.WorldMap.to_channels`)."""

WORLD_KNOBS = (
    "water_fraction",
    "land_height",
    "height_amplitude",
    "roughness",
    "tilt_x",
    "tilt_z",
    "centre_bias",
    "anisotropy_x",
    "anisotropy_z",
    "prop_density",
    *(f"{name}_share" for name in WORLD_MATERIALS[1:]),
)
"""The knobs of a world map (WS3), each in [0, 1] and each measurable from a map
(`uruk_hf.data.terrain.worldmap.measure_knobs`): the share of water; the mean land height; the height's spread;
its high-frequency share; its tilt along x and z; the centre's height above the border; the direction and strength
of its ridges (structure-tensor anisotropy, two components); props per land cell; and each land material's share
of the land."""

WORLD_HEIGHT_LINEAR_KNOBS = ("tilt_x", "tilt_z", "centre_bias")
"""The world knobs whose measurement is a linear function of the height alone: each reads one height pattern
(`world_height_knob_patterns`)."""

WORLD_CENTRE_RADIUS, WORLD_BORDER_RADIUS = 0.4, 0.85
"""The centre bias compares the mean height within the first radius with that beyond the second (in map
half-widths, from the centre)."""


def world_height_knob_patterns(size: int) -> np.ndarray:
    """`(len(WORLD_HEIGHT_LINEAR_KNOBS), size, size)` float32: the height pattern each of those knobs measures, in
    [-1, 1]: a ramp along x, a ramp along z, and 1 within the centre falling linearly to -1 at the border ring."""
    coordinates = np.linspace(-1.0, 1.0, size)
    z, x = np.meshgrid(coordinates, coordinates, indexing="ij")
    ring = (np.hypot(x, z) - WORLD_CENTRE_RADIUS) / (WORLD_BORDER_RADIUS - WORLD_CENTRE_RADIUS)
    return np.stack([x, z, 1.0 - 2.0 * np.clip(ring, 0.0, 1.0)]).astype(np.float32)
