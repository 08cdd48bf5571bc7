"""NPC Director v2: per-tick NPC state and move logits from a causal transformer over the NPC's observations."""

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import GPT2Model, PreTrainedModel
from transformers.utils import ModelOutput

from ...modeling_utils import UrukPreTrainedModelMixin, has_non_finite
from .configuration_npc_director import UrukNPCDirectorConfig

__all__ = ["UrukNPCDirector", "UrukNPCDirectorOutput"]


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
            The decoder's cache, to continue tick by tick without recomputing the window.
    """

    loss: torch.FloatTensor | None = None
    state_logits: torch.FloatTensor | None = None
    move_logits: torch.FloatTensor | None = None
    past_key_values: object | None = None


class UrukNPCDirector(UrukPreTrainedModelMixin, PreTrainedModel):
    """NPC Director v2 (1.31M at full size): a linear embedding of each tick's observation, transformers'
    `GPT2Model` as the causal decoder (its attention, masks and cache; fed `inputs_embeds`, its one-token
    vocabulary unused), and two linear heads, states and moves.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukNPCDirector, UrukNPCDirectorConfig

    >>> model = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny")).eval()
    >>> observations = torch.zeros(2, 64, model.config.observation_size)  # 2 NPCs, their last 64 ticks
    >>> outputs = model(observations)
    >>> decision = outputs.state_logits[:, -1].argmax(-1), outputs.move_logits[:, -1].argmax(-1)
    ```
    """

    config_class = UrukNPCDirectorConfig
    base_model_prefix = "director"
    main_input_name = "observations"

    def __init__(self, config: UrukNPCDirectorConfig):
        super().__init__(config)
        self.embed = torch.nn.Linear(config.observation_size, config.hidden_size)
        self.decoder = GPT2Model(config.decoder_config())
        self.state_head = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.move_head = torch.nn.Linear(config.hidden_size, config.num_moves)
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.02)
            torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Embedding):
            torch.nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, torch.nn.LayerNorm):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)

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
                The NPC's observation per tick, oldest first; at most `config.window` ticks (with
                `past_key_values`: the new ticks only).
            state_labels, move_labels (`torch.LongTensor` of shape `(batch_size, ticks)`, *optional*):
                The FSM's state and move per tick; when given, `loss` is computed.
            past_key_values, use_cache: the decoder's cache (transformers' `Cache`), to feed one tick at a time.
            return_dict (`bool`, *optional*): return a `UrukNPCDirectorOutput` (default) or a tuple.

        Raises:
            TypeError: `observations` is not a float tensor of the model's dtype.
            ValueError: wrong shape, more ticks than the window, no tick, or NaN/Inf values (named by feature).
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        self._check_input(observations, past_key_values)
        hidden = self.decoder(
            inputs_embeds=self.embed(observations), past_key_values=past_key_values, use_cache=use_cache
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

    def _check_input(self, observations, past_key_values) -> None:
        if not isinstance(observations, torch.Tensor) or observations.dtype != self.dtype:
            kind = observations.dtype if isinstance(observations, torch.Tensor) else type(observations).__name__
            raise TypeError(f"observations must be a torch tensor of {self.dtype}, got {kind}.")
        config = self.config
        if observations.ndim != 3 or observations.shape[-1] != config.observation_size or 0 in observations.shape:
            raise ValueError(
                f"observations must be (batch >= 1, ticks >= 1, {config.observation_size}), got "
                f"{tuple(observations.shape)}."
            )
        seen = observations.shape[1] + (0 if past_key_values is None else past_key_values.get_seq_length())
        if seen > config.window:
            raise ValueError(f"{seen} ticks exceed the model's window of {config.window}: pass the last ones.")
        if has_non_finite(observations):
            from ...schema import NPC_OBSERVATION_FEATURES

            bad = (~torch.isfinite(observations)).sum(dim=(0, 1)).tolist()
            named = [f"{NPC_OBSERVATION_FEATURES[i]} ({count})" for i, count in enumerate(bad) if count]
            raise ValueError(f"observations hold NaN/Inf values in the features {', '.join(named)}.")
