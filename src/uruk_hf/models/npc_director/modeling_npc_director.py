"""NPC Director v2: per-tick NPC state and move logits from a causal transformer over the NPC's observations, run
over a whole episode at once or a tick at a time with a fixed-size cache."""

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import MistralModel, PreTrainedModel
from transformers.cache_utils import DynamicCache
from transformers.utils import ModelOutput

from ...modeling_utils import UrukPreTrainedModelMixin, has_non_finite
from .configuration_npc_director import UrukNPCDirectorConfig

__all__ = [
    "STEP_STATE_NAMES", "UrukNPCDirector", "UrukNPCDirectorOutput", "UrukNPCDirectorStepOutput", "flat_cache_names",
    "initial_step_state", "map_step_state", "step_feed", "step_outputs_by_name",
]  # fmt: skip

STEP_STATE_NAMES = ("ticks", "mask", "key_values")
"""The state of `UrukNPCDirector.step`: `past_<name>` in, `present_<name>` out."""


def flat_cache_names(prefix: str, num_layers: int) -> list[str]:
    """The ONNX names of a cache's tensors: `<prefix>.<layer>.key` and `.value`, layer by layer."""
    return [f"{prefix}.{layer}.{kind}" for layer in range(num_layers) for kind in ("key", "value")]


def step_feed(observations, past_ticks, past_mask, past_key_values) -> dict:
    """The exported step's inputs by ONNX name, as numpy arrays, from `UrukNPCDirector.step`'s arguments (tensors
    or arrays)."""
    arrays = {"observations": observations, "past_ticks": past_ticks, "past_mask": past_mask}
    cache = [tensor for layer in past_key_values for tensor in layer]
    arrays.update(zip(flat_cache_names("past_key_values", len(past_key_values)), cache))
    return {name: value.numpy() if isinstance(value, torch.Tensor) else value for name, value in arrays.items()}


def step_outputs_by_name(outputs) -> dict:
    """A step's outputs (`UrukNPCDirectorStepOutput`) under the exported graph's output names."""
    cache = [tensor for layer in outputs.present_key_values for tensor in layer]
    return {
        "state_logits": outputs.state_logits,
        "move_logits": outputs.move_logits,
        "present_ticks": outputs.present_ticks,
        "present_mask": outputs.present_mask,
        **dict(zip(flat_cache_names("present", len(outputs.present_key_values)), cache)),
    }


def initial_step_state(config, batch_size: int, dtype: torch.dtype = torch.float32) -> dict:
    """`UrukNPCDirector.step`'s state before an NPC's first tick: `past_ticks`, `past_mask`, `past_key_values`
    (zeros, of `config`'s sizes)."""
    shape = (batch_size, config.num_key_value_heads, config.window - 1, config.head_dim)
    return {
        "past_ticks": torch.zeros(batch_size, 1, dtype=torch.long),
        "past_mask": torch.zeros(batch_size, config.window - 1, dtype=dtype),
        "past_key_values": tuple(
            (torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)) for _ in range(config.num_layers)
        ),
    }


def map_step_state(state: dict, function) -> dict:
    """`state` with `function` applied to each of its tensors (e.g. `torch.Tensor.numpy`, `torch.from_numpy`)."""
    return {
        "past_ticks": function(state["past_ticks"]),
        "past_mask": function(state["past_mask"]),
        "past_key_values": tuple(tuple(map(function, layer)) for layer in state["past_key_values"]),
    }


@dataclass
class UrukNPCDirectorStepOutput(ModelOutput):
    """Output of [`UrukNPCDirector.step`]: the tick's logits and the NPCs' next fixed-size state.

    Args:
        state_logits (`torch.FloatTensor` of shape `(batch_size, 1, num_labels)`), move_logits (`(batch_size, 1,
            num_moves)`): the decision of the tick.
        present_ticks (`torch.LongTensor` of shape `(batch_size, 1)`): each NPC's ticks so far, this one included.
        present_mask (`torch.FloatTensor` of shape `(batch_size, window - 1)`): 1 where the last `window - 1` ticks
            exist (0 before an NPC's first ticks).
        present_key_values (`tuple` of `(key, value)` per layer, each `torch.FloatTensor` of shape `(batch_size,
            num_key_value_heads, window - 1, head_dim)`): the keys and values of those ticks, oldest first (in
            ONNX, `present.<layer>.key` and `present.<layer>.value`).
    """

    state_logits: torch.FloatTensor | None = None
    move_logits: torch.FloatTensor | None = None
    present_ticks: torch.LongTensor | None = None
    present_mask: torch.FloatTensor | None = None
    present_key_values: tuple | None = None


@dataclass
class UrukNPCDirectorOutput(ModelOutput):
    """Output of [`UrukNPCDirector`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `state_labels` is given):
            Cross-entropy of the states plus `move_loss_weight` times that of the moves (when `move_labels` is
            given), over every tick.
        state_logits (`torch.FloatTensor` of shape `(batch_size, ticks, num_labels)`):
            Logits over the states at every tick (each tick sees itself and the ticks before it).
        move_logits (`torch.FloatTensor` of shape `(batch_size, ticks, num_moves)`):
            Logits over the moves at every tick.
        past_key_values (*optional*, returned when `use_cache=True`):
            The decoder's cache, to continue tick by tick (transformers' `DynamicCache` of sliding layers: the
            last `window - 1` ticks).
    """

    loss: torch.FloatTensor | None = None
    state_logits: torch.FloatTensor | None = None
    move_logits: torch.FloatTensor | None = None
    past_key_values: object | None = None


class UrukNPCDirector(UrukPreTrainedModelMixin, PreTrainedModel):
    """NPC Director v2 (1.31M at full size): a linear embedding of each tick's observation plus a learned embedding
    of the NPC's age (ticks since its first, saturating at `window - 1`), transformers' `MistralModel` as the causal
    decoder (its sliding-window attention, rotary positions, masks and cache; fed
    `inputs_embeds`, its one-token vocabulary unused), and two linear heads, states and moves.

    A game runs it a tick at a time: in PyTorch with `past_key_values` (transformers' cache), in ONNX Runtime
    through `step`, whose state is a fixed-size tensor per NPC. Both give the logits of running the episode from
    its first tick at once.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukNPCDirector, UrukNPCDirectorConfig

    >>> model = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny")).eval()
    >>> observations = torch.zeros(2, 100, model.config.observation_size)  # 2 NPCs, their first 100 ticks
    >>> outputs = model(observations, use_cache=True)
    >>> decision = outputs.state_logits[:, -1].argmax(-1), outputs.move_logits[:, -1].argmax(-1)
    >>> next_tick = model(torch.zeros(2, 1, 34), past_key_values=outputs.past_key_values, use_cache=True)
    ```
    """

    config_class = UrukNPCDirectorConfig
    base_model_prefix = "director"
    main_input_name = "observations"

    def __init__(self, config: UrukNPCDirectorConfig):
        super().__init__(config)
        self.embed = torch.nn.Linear(config.observation_size, config.hidden_size)
        self.age = torch.nn.Embedding(config.window, config.hidden_size)
        self.decoder = MistralModel(config.decoder_config())
        self.state_head = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.move_head = torch.nn.Linear(config.hidden_size, config.num_moves)
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.02)
            torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, std=0.02)
        elif type(module).__name__ == "MistralRMSNorm":
            torch.nn.init.ones_(module.weight)

    def forward(
        self,
        observations: torch.Tensor,
        state_labels: torch.Tensor | None = None,
        move_labels: torch.Tensor | None = None,
        past_key_values=None,
        use_cache: bool = False,
        return_dict: bool | None = None,
    ) -> UrukNPCDirectorOutput | tuple:
        r"""
        Args:
            observations (`torch.FloatTensor` of shape `(batch_size, ticks, config.observation_size)`):
                The NPC's observation per tick from its first tick, oldest first (with `past_key_values`: the new
                ticks only).
            state_labels, move_labels (`torch.LongTensor` of shape `(batch_size, ticks)`, *optional*):
                The FSM's state and move per tick; when given, `loss` is computed.
            past_key_values, use_cache: the decoder's cache (transformers' `Cache`), to feed one tick at a time.
            return_dict (`bool`, *optional*): return a `UrukNPCDirectorOutput` (default) or a tuple.

        Raises:
            TypeError: `observations` is not a float tensor of the model's dtype.
            ValueError: wrong shape, no tick, or NaN/Inf values (named by feature).
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        self._check_input(observations)
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.decoder.config)
        start = 0 if past_key_values is None else past_key_values.get_seq_length()
        ticks = torch.arange(start, start + observations.shape[1], device=observations.device)[None]
        hidden = self.decoder(
            inputs_embeds=self._embed(observations, ticks), past_key_values=past_key_values, use_cache=use_cache
        )
        states = self.state_head(hidden.last_hidden_state)
        moves = self.move_head(hidden.last_hidden_state)
        loss = None
        if state_labels is not None:
            loss = F.cross_entropy(states.flatten(0, 1), state_labels.flatten().long())
            if move_labels is not None:
                move_loss = F.cross_entropy(moves.flatten(0, 1), move_labels.flatten().long())
                loss = loss + self.config.move_loss_weight * move_loss
        past = hidden.past_key_values if use_cache else None
        if not return_dict:
            return tuple(value for value in (loss, states, moves, past) if value is not None)
        return UrukNPCDirectorOutput(loss=loss, state_logits=states, move_logits=moves, past_key_values=past)

    def step(
        self,
        observations: torch.Tensor,
        past_ticks: torch.Tensor,
        past_mask: torch.Tensor,
        past_key_values: tuple,
    ) -> UrukNPCDirectorStepOutput:
        r"""One tick for a batch of NPCs on a fixed-size state: the exported ONNX graph (`model.onnx`).

        Args:
            observations (`torch.FloatTensor` of shape `(batch_size, 1, observation_size)`): the tick.
            past_ticks, past_mask, past_key_values: the previous step's `present_*` (`initial_state` before an
                NPC's first tick; `next_state` gives them from an output).

        Returns:
            `UrukNPCDirectorStepOutput`: the logits of the tick, exactly those of running the NPC's ticks so far at
            once (tested), and the state of the next step.
        """
        cache = DynamicCache()
        for layer, (keys, values) in enumerate(past_key_values if self.config.window > 1 else ()):  # 1: no past
            cache.update(keys, values, layer)
        valid = torch.cat([past_mask, torch.ones_like(observations[:, :, 0])], dim=1)
        additive = (1.0 - valid[:, None, None, :]) * torch.finfo(observations.dtype).min
        hidden = self.decoder(
            inputs_embeds=self._embed(observations, past_ticks),
            attention_mask=additive,
            position_ids=past_ticks,
            past_key_values=cache,
            use_cache=True,
        ).last_hidden_state
        # `update` returned (and kept) the past and this tick: the next state drops the oldest tick.
        present = tuple((layer.keys[:, :, 1:], layer.values[:, :, 1:]) for layer in cache.layers)
        return UrukNPCDirectorStepOutput(
            state_logits=self.state_head(hidden),
            move_logits=self.move_head(hidden),
            present_ticks=past_ticks + 1,
            present_mask=valid[:, 1:],
            present_key_values=present,
        )

    def initial_state(self, batch_size: int) -> dict:
        """`step`'s state before an NPC's first tick: `past_ticks`, `past_mask`, `past_key_values` (zeros)."""
        return initial_step_state(self.config, batch_size, self.dtype)

    def _embed(self, observations: torch.Tensor, ticks: torch.Tensor) -> torch.Tensor:
        """Each tick's observation embedded, plus the NPC's age at that tick (`ticks` since its first, saturating
        at `window - 1`): what attention with relative positions cannot tell, such as how long since spawn."""
        return self.embed(observations) + self.age(ticks.clamp(max=self.config.window - 1))

    @staticmethod
    def next_state(outputs: UrukNPCDirectorStepOutput) -> dict:
        """The state of the next `step` from a step's output (`past_<name>` from `present_<name>`)."""
        return {f"past_{name}": outputs[f"present_{name}"] for name in STEP_STATE_NAMES}

    def _check_input(self, observations) -> None:
        if not isinstance(observations, torch.Tensor) or observations.dtype != self.dtype:
            kind = observations.dtype if isinstance(observations, torch.Tensor) else type(observations).__name__
            raise TypeError(f"observations must be a torch tensor of {self.dtype}, got {kind}.")
        config = self.config
        if observations.ndim != 3 or observations.shape[-1] != config.observation_size or 0 in observations.shape:
            raise ValueError(
                f"observations must be (batch >= 1, ticks >= 1, {config.observation_size}), got "
                f"{tuple(observations.shape)}."
            )
        if has_non_finite(observations):
            from ...schema import NPC_OBSERVATION_FEATURES

            bad = (~torch.isfinite(observations)).sum(dim=(0, 1)).tolist()
            named = [f"{NPC_OBSERVATION_FEATURES[i]} ({count})" for i, count in enumerate(bad) if count]
            raise ValueError(f"observations hold NaN/Inf values in the features {', '.join(named)}.")
