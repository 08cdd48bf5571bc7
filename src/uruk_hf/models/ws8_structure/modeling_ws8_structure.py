"""The WS8 structure generator: transformers' `GPT2LMHeadModel` over block-structure tokens, whose `generate()`
keeps every sampled token inside its field's range."""

import torch
from transformers import GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList

from ...modeling_utils import UrukPreTrainedModelMixin
from ...schema import BLOCK_FIELDS, StructureTokenLayout
from .configuration_ws8_structure import UrukWS8StructureGeneratorConfig

__all__ = [
    "ROOM_BINS",
    "BlockGeometryTemperatureLogitsProcessor",
    "StructureFieldLogitsProcessor",
    "StructureGenerationMixin",
    "UrukWS8StructureGenerator",
    "block_geometry_positions",
]

ROOM_BINS = 66
"""Indices per axis of the room table: rooms of -32 .. 32 cells, then one for tokens before the bounds are whole."""


def _next_rows(input_ids: torch.LongTensor, layout: StructureTokenLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence, the position of the token to come (its non-padding tokens so far) and its row in a table of
    one row per position before the first block, then one per block field."""
    position = (input_ids != layout.pad).sum(dim=-1)
    start = layout.blocks_start
    return position, torch.where(position < start, position, start + (position - start) % len(BLOCK_FIELDS))


def block_geometry_positions(position: torch.Tensor, layout: StructureTokenLayout) -> torch.Tensor:
    """Whether the token at each of `position` is a block's extent or corner offset (a block field after its
    type): what `BlockGeometryTemperatureLogitsProcessor` cools and self-training's grammar sequences do not teach."""
    start = layout.blocks_start
    return (position > start) & ((position - start) % len(BLOCK_FIELDS) != 0)


class StructureFieldLogitsProcessor(LogitsProcessor):
    """Restricts the next token of every sequence to the tokens of its position's field
    (`StructureTokenLayout.position_field`): the class after `bos`, the bounds, then per block its type (or `eos`),
    its three extents and its x, y and z offsets, and only `eos` once the longest sequence is reached. Positions
    count the sequence's non-padding tokens, so left-padded prompts of different lengths are handled. It does not
    repair anything: a sampled block may still overlap another or float (the validity metrics count those).

    Args:
        layout (`StructureTokenLayout`): the vocabulary.
    """

    def __init__(self, layout: StructureTokenLayout):
        self.layout = layout
        start = layout.blocks_start  # rows: one per position before the first block, then one per block field
        allowed = torch.zeros(start + len(BLOCK_FIELDS), layout.vocab_size, dtype=torch.bool)
        for position in range(start + len(BLOCK_FIELDS)):
            field = layout.position_field(position)
            allowed[position, [layout.bos] if field == "bos" else list(layout.field_range(field))] = True
        allowed[start, layout.eos] = True
        self.allowed = allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        layout = self.layout
        position, row = _next_rows(input_ids, layout)
        allowed = self.allowed.to(scores.device)[row]
        last = position >= layout.max_length - 1
        if last.any():
            allowed[last] = False
            allowed[last, layout.eos] = True
        return scores.masked_fill(~allowed, float("-inf"))


class BlockGeometryTemperatureLogitsProcessor(LogitsProcessor):
    """Divides the scores of each block's geometry tokens (its extents and corner offsets) by `temperature`, and
    leaves the class, the bounds and each block's type (or `eos`) to the sampler's own temperature: cooler
    placements, which are valid more often, in structures as varied in size, place, length and materials as the
    sampler's. Self-training samples through it (`recipe_ws8_structure`); a user may too:
    `model.generate(prompt, do_sample=True, logits_processor=[BlockGeometryTemperatureLogitsProcessor(0.5, layout)])`.

    Args:
        temperature (`float`): the geometry tokens' temperature, above 0 (below 1: cooler).
        layout (`StructureTokenLayout`): the vocabulary (the model config's `token_layout()`).
    """

    def __init__(self, temperature: float, layout: StructureTokenLayout):
        if not temperature > 0:
            raise ValueError(f"The geometry temperature must be above 0, got {temperature!r}.")
        self.temperature, self.layout = temperature, layout

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        position, _ = _next_rows(input_ids, self.layout)
        geometry = block_geometry_positions(position, self.layout)[:, None]
        return torch.where(geometry, scores / self.temperature, scores)


class StructureGenerationMixin:
    """`generate()` of a structure generator, for the PyTorch model and its ONNX Runtime class alike (listed before
    the class that brings transformers' `GenerationMixin`)."""

    def generate(self, inputs=None, logits_processor=None, constrain_fields: bool = True, **kwargs):
        """transformers' `generate()`, with the field ranges enforced first unless `constrain_fields=False`, and
        `max_length` defaulting to the layout's longest sequence."""
        layout = self.config.token_layout()
        processors = LogitsProcessorList(logits_processor or [])
        if constrain_fields:
            processors.insert(0, StructureFieldLogitsProcessor(layout))
        if "max_new_tokens" not in kwargs:
            kwargs.setdefault("max_length", layout.max_length)
        kwargs.setdefault("pad_token_id", layout.pad)
        return super().generate(inputs, logits_processor=processors, **kwargs)


class UrukWS8StructureGenerator(StructureGenerationMixin, UrukPreTrainedModelMixin, GPT2LMHeadModel):
    """The WS8 structure generator (2.83M at full size): `GPT2LMHeadModel` with its own config, so that the KV
    cache, sampling, beam search and logits processors of `generate()` are transformers' own. Coordinate tokens
    also share an embedding of their value across fields (`config.value_embeddings`). `generate()` adds a
    `StructureFieldLogitsProcessor`, so every output decodes into blocks
    (`uruk_hf.data.grammar.structures.Structure.from_tokens`); a prompt of `bos` and a class token asks for a
    structure of that class (the model chooses its bounds), a prompt that also holds bounds asks for one that fills
    that box, and a longer prompt (a user's partial structure and the box to complete it in,
    `Structure.to_tokens(end=False, bounds=...)`) is completed.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukWS8StructureGenerator, UrukWS8StructureGeneratorConfig

    >>> model = UrukWS8StructureGenerator(UrukWS8StructureGeneratorConfig.from_preset("tiny")).eval()
    >>> layout = model.config.token_layout()
    >>> prompt = torch.tensor([[layout.bos, layout.field_range("class")[0]]])  # a tower
    >>> tokens = model.generate(prompt, do_sample=True, max_new_tokens=15)
    ```
    """

    config_class = UrukWS8StructureGeneratorConfig

    def __init__(self, config: UrukWS8StructureGeneratorConfig):
        super().__init__(config)
        self.loss_type = "ForCausalLM"  # transformers reads the loss from the class name, which does not say it
        self.value_embedding = self.room_embedding = None
        if config.room_embeddings:
            self._register_room_tables(config.token_layout())
            self.room_embedding = torch.nn.Embedding(3 * ROOM_BINS, config.n_embd)
            torch.nn.init.normal_(self.room_embedding.weight, std=config.initializer_range)
        if config.value_embeddings:
            layout = config.token_layout()
            values = torch.full((layout.vocab_size,), -1, dtype=torch.long)  # -1: not a coordinate token
            for field in BLOCK_FIELDS[1:]:
                values[list(layout.field_range(field))] = torch.arange(layout.grid_size)
            self.register_buffer("token_values", values, persistent=False)
            self.value_embedding = torch.nn.Embedding(layout.grid_size, config.n_embd)
            torch.nn.init.normal_(self.value_embedding.weight, std=config.initializer_range)

    def _register_room_tables(self, layout: StructureTokenLayout) -> None:
        """Per position of a sequence: which axis its token moves the cursor along (a corner token: the bounds'
        corner or a block's offset; -1 for none), which axis of the bounds' extent it gives, and the first id of
        its field's range."""
        positions = range(layout.max_length)
        fields = [layout.position_field(position) for position in positions]
        corner_axis = [("xyz".index(f[-1]) if f.removeprefix("bounds_") in ("x", "y", "z") else -1) for f in fields]
        extent_axis = [("xyz".index(f[-1]) if f.startswith("bounds_size_") else -1) for f in fields]
        starts = [layout.field_range(f).start if f not in ("bos", "class") else 0 for f in fields]
        for name, values in (("corner_axis", corner_axis), ("extent_axis", extent_axis), ("field_start", starts)):
            self.register_buffer(f"room_{name}", torch.tensor(values, dtype=torch.long), persistent=False)

    def cursor_rooms(self, input_ids: torch.LongTensor, position_ids: torch.LongTensor | None = None) -> torch.Tensor:
        """`(batch, length, 3)` long: at every token from the bounds' last one on, the room along x, y and z from
        the cursor (the lowest corner of the latest block, the bounds' corner before the first) to the bounds' far
        side, `bounds corner + extent - cursor`, in cells (negative past it), as an index into the room table
        (`ROOM_BINS` per axis: rooms of -grid .. grid, then one index for tokens before the bounds are whole).

        Read from the tokens only, so it is the same in training and in `generate()`: positions are
        `position_ids` (packed rows: each sequence from 0) or, without them, the count of non-padding tokens
        before each token (left-padded prompts)."""
        layout = self.config.token_layout()
        grid = layout.grid_size
        if position_ids is None:
            position_ids = (input_ids != layout.pad).long().cumsum(-1) - 1
        inside = (position_ids >= 0) & (position_ids < layout.max_length)
        position = position_ids.clamp(0, layout.max_length - 1)
        value = torch.where(inside, input_ids - self.room_field_start[position], 0)
        # Sums restart at every sequence's `bos` (position 0): subtract the running sum at its start.
        segment = (position_ids == 0).long().cumsum(-1)

        def segment_sum(terms: torch.Tensor) -> torch.Tensor:
            total = terms.cumsum(-1)
            before = total - terms
            starts = total.new_zeros(total.shape[0], total.shape[1] + 1).scatter_reduce(
                -1, segment, torch.where(position_ids == 0, before, 0), "sum", include_self=False
            )
            return total - starts.gather(-1, segment)

        rooms = []
        for axis in range(3):
            corner = self.room_corner_axis[position] == axis
            cursor = segment_sum(torch.where(inside & corner, value, 0)) % grid
            is_extent = inside & (self.room_extent_axis[position] == axis)
            extent = torch.where(is_extent, torch.where(value == 0, grid, value), 0)  # token 0 is a full extent
            bounds_corner = inside & corner & (position < layout.blocks_start)
            far_side = segment_sum(extent + torch.where(bounds_corner, value, 0))
            room = (far_side - cursor).clamp(-grid, grid) + grid
            ready = inside & (position >= layout.blocks_start - 1)
            rooms.append(torch.where(ready, room, ROOM_BINS - 1) + axis * ROOM_BINS)
        return torch.stack(rooms, -1)

    def forward(
        self,
        input_ids=None,
        past_key_values=None,
        attention_mask=None,
        position_ids=None,
        inputs_embeds=None,
        cursor_rooms=None,
        **kwargs,
    ):
        """`GPT2LMHeadModel.forward`; with `config.value_embeddings`, the input embeddings of coordinate tokens
        also carry their shared value embedding, and with `config.room_embeddings` every token also carries the
        embeddings of the cursor's room to the bounds' far side along each axis (`cursor_rooms`, computed from
        `input_ids` unless given, as `generate()` gives it for the new tokens)."""
        extra = self.value_embedding is not None or self.room_embedding is not None
        if input_ids is not None and inputs_embeds is None and extra:
            inputs_embeds = self.transformer.wte(input_ids)
            if self.value_embedding is not None:
                values = self.token_values[input_ids]
                inputs_embeds = inputs_embeds + self.value_embedding(values.clamp(min=0)) * (values >= 0).unsqueeze(-1)
            if self.room_embedding is not None:
                if cursor_rooms is None:
                    if past_key_values is not None and past_key_values.get_seq_length() > 0:
                        raise ValueError(
                            "With a KV cache, input_ids hold only the new tokens: pass cursor_rooms="
                            "model.cursor_rooms(whole_sequence)[:, -new_tokens:] (generate() does)."
                        )
                    cursor_rooms = self.cursor_rooms(input_ids, position_ids)
                inputs_embeds = inputs_embeds + self.room_embedding(cursor_rooms).sum(-2)
            input_ids = None
        return super().forward(
            input_ids=input_ids,
            past_key_values=past_key_values,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )

    def prepare_inputs_for_generation(
        self, input_ids, past_key_values=None, attention_mask=None, inputs_embeds=None, cache_position=None, **kwargs
    ):
        """transformers' preparation, plus the cursor rooms of the tokens this step feeds (read from the whole
        sequence so far, since the KV cache leaves only the new tokens in `input_ids`)."""
        inputs = super().prepare_inputs_for_generation(
            input_ids,
            past_key_values=past_key_values,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            cache_position=cache_position,
            **kwargs,
        )
        if self.room_embedding is not None and inputs.get("input_ids") is not None:
            inputs["cursor_rooms"] = self.cursor_rooms(input_ids)[:, -inputs["input_ids"].shape[1] :]
        return inputs
