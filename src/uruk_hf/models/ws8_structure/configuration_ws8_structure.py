"""Configuration of the WS8 structure generator: a GPT-2 decoder over block-structure tokens (2.83M)."""

from transformers import GPT2Config

from ...configuration_utils import UrukConfigMixin
from ...schema import BLOCK_TYPES, STRUCTURE_CLASSES, StructureTokenLayout

__all__ = ["WS8_PRESETS", "UrukWS8StructureGeneratorConfig"]

WS8_PRESETS = {
    "tiny": {"n_embd": 16, "n_layer": 1, "n_head": 2},
    "quick": {"n_embd": 96, "n_layer": 4, "n_head": 4},
    "full": {"n_embd": 192, "n_layer": 6, "n_head": 6},
}
"""Decoder sizes per preset; `full` is the published 2.83M model."""


class UrukWS8StructureGeneratorConfig(UrukConfigMixin, GPT2Config):
    r"""Configuration of [`UrukWS8StructureGenerator`]: transformers' `GPT2Config` whose vocabulary is the block
    structure token layout (`uruk_hf.schema.StructureTokenLayout`) of a `grid_size`^3 grid and at most
    `max_blocks` blocks. Every `GPT2Config` field applies; the vocabulary and the special tokens follow from the
    layout.

    Args:
        grid_size (`int`, *optional*, defaults to 32):
            Cells per axis; positions and extents take `grid_size` tokens each.
        max_blocks (`int`, *optional*, defaults to 64):
            Blocks per structure at most.
        structure_classes (`list[str]`, *optional*, defaults to `STRUCTURE_CLASSES`):
            The class tokens, in order.
        block_types (`list[str]`, *optional*, defaults to `BLOCK_TYPES`):
            The block-type tokens, in order.
        n_positions (`int`, *optional*, defaults to 512):
            Position embeddings; at least the layout's longest sequence (`9 + 7 * max_blocks`).
        n_embd (`int`, *optional*, defaults to 192):
            Width of the decoder.
        n_layer (`int`, *optional*, defaults to 6):
            Decoder blocks.
        n_head (`int`, *optional*, defaults to 6):
            Attention heads per block.
        value_embeddings (`bool`, *optional*, defaults to `True`):
            Whether every coordinate token (the three extents and the x, y, z offsets) also gets an embedding of its
            bin value, one table shared by the six fields, added to its own token embedding. An offset of 5 and an
            extent of 5 then share a vector, so relations between fields (a block's y offset equal to the height of
            the one below it) are not learned once per pair of fields. `False` is plain GPT-2.
        room_embeddings (`bool`, *optional*, defaults to `False`):
            Whether every token also gets, per axis, an embedding of the room left from the cursor (the latest
            block's corner) to the far side of the structure's bounds, summed from the tokens before it
            (`UrukWS8StructureGenerator.cursor_rooms`). Offsets make stacking a copy but leave where a block stands
            as a sum over all blocks before it; with the room given, a wall's crenellations can stop at its end
            without the model adding up their offsets. Off by default: in two runs it added 3 points of validity
            (inside the spread) and 11-14 points of samples inside a requested box, but `generate()` recomputes the
            rooms of the whole sequence at every step: 1.2-1.3x the time of one structure, 3-4x in batches.
        resid_pdrop, embd_pdrop, attn_pdrop (`float`, *optional*, defaults to 0.0):
            GPT-2's dropout probabilities (its own defaults are 0.1). Off here: a decoder this small trained for a few
            epochs does not overfit (two seeds from scratch reached the same validity with and without it), and
            with it a model sampled in eval mode is not the one trained, so that training further on its own
            samples (self-training) lowered validity (74% -> 63% in 150 steps) where without it validity rose.

    Example:

    ```python
    >>> from uruk_hf import UrukWS8StructureGenerator, UrukWS8StructureGeneratorConfig

    >>> config = UrukWS8StructureGeneratorConfig.from_preset("tiny")
    >>> model = UrukWS8StructureGenerator(config)
    >>> config.vocab_size
    207
    ```
    """

    model_type = "uruk_ws8_structure_generator"
    required_fields = (
        "vocab_size",
        "n_positions",
        "n_embd",
        "n_layer",
        "n_head",
        "grid_size",
        "max_blocks",
        "value_embeddings",
        "room_embeddings",
    )
    presets = WS8_PRESETS

    def __init__(
        self,
        grid_size: int = 32,
        max_blocks: int = 64,
        structure_classes: list[str] | None = None,
        block_types: list[str] | None = None,
        n_positions: int = 512,
        n_embd: int = 192,
        n_layer: int = 6,
        n_head: int = 6,
        value_embeddings: bool = True,
        room_embeddings: bool = False,
        resid_pdrop: float = 0.0,
        embd_pdrop: float = 0.0,
        attn_pdrop: float = 0.0,
        **kwargs,
    ):
        self.grid_size, self.max_blocks = grid_size, max_blocks
        self.value_embeddings = bool(value_embeddings)
        self.room_embeddings = bool(room_embeddings)
        self.structure_classes = list(structure_classes or STRUCTURE_CLASSES)
        self.block_types = list(block_types or BLOCK_TYPES)
        layout = self.token_layout()
        if kwargs.get("vocab_size", layout.vocab_size) != layout.vocab_size:
            raise ValueError(
                f"vocab_size {kwargs['vocab_size']} does not match the token layout's {layout.vocab_size} (grid_size "
                f"{grid_size}, max_blocks {max_blocks}, {len(self.structure_classes)} classes, "
                f"{len(self.block_types)} block types)."
            )
        if n_positions < layout.max_length:
            raise ValueError(f"n_positions {n_positions} is below the longest sequence ({layout.max_length} tokens).")
        for name, token in (("bos", layout.bos), ("eos", layout.eos), ("pad", layout.pad)):
            kwargs[f"{name}_token_id"] = token
        kwargs["vocab_size"] = layout.vocab_size
        super().__init__(
            n_positions=n_positions,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            resid_pdrop=resid_pdrop,
            embd_pdrop=embd_pdrop,
            attn_pdrop=attn_pdrop,
            **kwargs,
        )

    def token_layout(self) -> StructureTokenLayout:
        """The token layout of this config's vocabulary."""
        return StructureTokenLayout(
            self.grid_size, self.max_blocks, tuple(self.structure_classes), tuple(self.block_types)
        )
