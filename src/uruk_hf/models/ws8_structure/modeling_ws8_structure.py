"""The WS8 structure generator: transformers' `GPT2LMHeadModel` over block-structure tokens, whose `generate()`
keeps every sampled token inside its field's range."""

import torch
from transformers import GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList

from ...modeling_utils import UrukPreTrainedModelMixin
from ...schema import BLOCK_FIELDS, StructureTokenLayout
from .configuration_ws8_structure import UrukWS8StructureGeneratorConfig

__all__ = ["StructureFieldLogitsProcessor", "UrukWS8StructureGenerator"]


class StructureFieldLogitsProcessor(LogitsProcessor):
    """Restricts the next token of every sequence to the tokens of its position's field
    (`StructureTokenLayout.position_field`): the class after `bos`, then per block its type (or `eos`), x, y, z and
    the three extents, and only `eos` once the longest sequence is reached. Positions count the sequence's
    non-padding tokens, so left-padded prompts of different lengths are handled. It does not repair anything: a
    sampled block may still overlap another or float (the validity metrics count those).

    Args:
        layout (`StructureTokenLayout`): the vocabulary.
    """

    def __init__(self, layout: StructureTokenLayout):
        self.layout = layout
        allowed = torch.zeros(2 + len(BLOCK_FIELDS), layout.vocab_size, dtype=torch.bool)
        allowed[0, layout.bos] = True
        allowed[1, list(layout.field_range("class"))] = True
        for index, field in enumerate(BLOCK_FIELDS):
            allowed[2 + index, list(layout.field_range(field))] = True
        allowed[2, layout.eos] = True
        self.allowed = allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        layout = self.layout
        position = (input_ids != layout.pad).sum(dim=-1)
        row = torch.where(position < 2, position, 2 + (position - 2) % len(BLOCK_FIELDS))
        allowed = self.allowed.to(scores.device)[row]
        last = position >= layout.max_length - 1
        if last.any():
            allowed[last] = False
            allowed[last, layout.eos] = True
        return scores.masked_fill(~allowed, float("-inf"))


class UrukWS8StructureGenerator(UrukPreTrainedModelMixin, GPT2LMHeadModel):
    """The WS8 structure generator (2.83M at full size): `GPT2LMHeadModel` with its own config, so that the KV
    cache, sampling, beam search and logits processors of `generate()` are transformers' own. Coordinate tokens
    also share an embedding of their value across fields (`config.value_embeddings`). `generate()` adds a
    `StructureFieldLogitsProcessor`, so every output decodes into blocks
    (`uruk_hf.data.grammar.structures.Structure.from_tokens`); a prompt of `bos` and a class token asks for a
    structure of that class, and a longer prompt (a user's partial structure, `Structure.to_tokens(end=False)`) is
    completed.

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
        self.value_embedding = None
        if config.value_embeddings:
            layout = config.token_layout()
            values = torch.full((layout.vocab_size,), -1, dtype=torch.long)  # -1: not a coordinate token
            for field in BLOCK_FIELDS[1:]:
                values[list(layout.field_range(field))] = torch.arange(layout.grid_size)
            self.register_buffer("token_values", values, persistent=False)
            self.value_embedding = torch.nn.Embedding(layout.grid_size, config.n_embd)
            torch.nn.init.normal_(self.value_embedding.weight, std=config.initializer_range)

    def forward(self, input_ids=None, inputs_embeds=None, **kwargs):
        """`GPT2LMHeadModel.forward`; with `config.value_embeddings`, the input embeddings of coordinate tokens
        also carry their shared value embedding."""
        if self.value_embedding is not None and input_ids is not None and inputs_embeds is None:
            values = self.token_values[input_ids]
            shared = self.value_embedding(values.clamp(min=0)) * (values >= 0).unsqueeze(-1)
            inputs_embeds, input_ids = self.transformer.wte(input_ids) + shared, None
        return super().forward(input_ids=input_ids, inputs_embeds=inputs_embeds, **kwargs)

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
