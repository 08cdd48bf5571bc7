"""Configuration of NPC Director v2: a causal transformer whose every layer attends to the NPC's last ticks
(1.31M)."""

from transformers import MistralConfig, PretrainedConfig

from ...configuration_utils import UrukConfigMixin
from ...schema import NPC_MOVES, NPC_STATES

__all__ = ["NPC_DIRECTOR_PRESETS", "UrukNPCDirectorConfig"]

NPC_DIRECTOR_PRESETS = {
    "tiny": {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "intermediate_size": 32},
    "quick": {"hidden_size": 64, "num_layers": 4, "num_heads": 4, "intermediate_size": 256},
    "full": {"hidden_size": 128, "num_layers": 6, "num_heads": 4, "intermediate_size": 456},
}
"""Decoder sizes per preset; `full` is the published 1.31M model."""


class UrukNPCDirectorConfig(UrukConfigMixin, PretrainedConfig):
    r"""Configuration of [`UrukNPCDirector`]: per tick, an observation vector in, logits over the NPC's states and
    moves out, from a causal transformer (transformers' `MistralModel`) whose every layer attends to the last
    `window` ticks.

    The attention window slides with the ticks and the positions are rotary (relative), so a game steps the model
    one tick at a time with a fixed-size cache (the last `window - 1` ticks' keys and values per layer) and gets the
    logits of running the whole episode at once. Through its layers a decision can draw on up to
    `num_layers * (window - 1)` earlier ticks.

    Args:
        observation_size (`int`, *optional*, defaults to 34):
            Features per tick (`uruk_hf.data.behaviour.simulator.OBSERVATION_FEATURES`).
        num_moves (`int`, *optional*, defaults to 9):
            Moves (stay and 8 directions).
        window (`int`, *optional*, defaults to 32):
            Ticks each layer attends to (this one and the `window - 1` before it); 1 makes the model memoryless.
            The per-tick state, and so the memory traffic of a step, scales with it: 32 decided as well as 64 on the
            validation maps (closed loop included) in 15% less time per step.
        hidden_size (`int`, *optional*, defaults to 128):
            Width of the decoder.
        num_layers (`int`, *optional*, defaults to 6):
            Decoder blocks.
        num_heads (`int`, *optional*, defaults to 4):
            Query heads per block (`hidden_size` must divide by it).
        num_key_value_heads (`int`, *optional*, defaults to 1):
            Key and value heads per block, shared by the query heads (grouped-query attention; `num_heads` must
            divide by it). The per-tick cache, and so the memory traffic of a step, scales with it.
        intermediate_size (`int`, *optional*, defaults to 456):
            Width of each block's gated MLP.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the attention weights.
        move_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the move cross-entropy beside the state cross-entropy in the model's own loss.
        id2label (`dict[int, str]`, *optional*, defaults to the 8 NPC states):
            The states (idle, patrol, investigate, alert, chase, attack, flee, return).
    """

    model_type = "uruk_npc_director"
    required_fields = (
        "observation_size", "num_moves", "window", "hidden_size", "num_layers", "num_heads", "num_key_value_heads"
    )  # fmt: skip
    presets = NPC_DIRECTOR_PRESETS

    def __init__(
        self,
        observation_size: int = 34,
        num_moves: int = len(NPC_MOVES),
        window: int = 32,
        hidden_size: int = 128,
        num_layers: int = 6,
        num_heads: int = 4,
        num_key_value_heads: int = 1,
        intermediate_size: int = 456,
        dropout: float = 0.0,
        move_loss_weight: float = 1.0,
        **kwargs,
    ):
        if kwargs.get("id2label") is None and kwargs.get("num_labels") is None:
            kwargs["id2label"] = dict(enumerate(NPC_STATES))
            kwargs["label2id"] = {name: index for index, name in enumerate(NPC_STATES)}
        self.observation_size, self.num_moves, self.window = observation_size, num_moves, window
        self.hidden_size, self.num_layers, self.num_heads = hidden_size, num_layers, num_heads
        self.num_key_value_heads = num_key_value_heads
        self.intermediate_size, self.dropout, self.move_loss_weight = intermediate_size, dropout, move_loss_weight
        super().__init__(**kwargs)
        if hidden_size % num_heads or num_heads % num_key_value_heads:
            raise ValueError(
                f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}, and num_heads of "
                f"num_key_value_heads {num_key_value_heads}."
            )
        if window < 1 or observation_size < 1:
            raise ValueError(f"window ({window}) and observation_size ({observation_size}) must be at least 1.")

    @classmethod
    def check_config_dict(cls, config_dict: dict, source: str) -> None:
        """Refuses, besides the shared checks, a config saved before the decoder slid its window (a GPT-2 decoder
        with absolute positions, whose weights this class cannot rebuild)."""
        if config_dict.get("model_type") == cls.model_type and "num_key_value_heads" not in config_dict:
            raise ValueError(
                f"{source} is an NPC Director saved by an earlier uruk_hf, on a GPT-2 decoder with absolute "
                "positions; this version's decoder (sliding-window attention, rotary positions) cannot load its "
                "weights: retrain it with `uruk train npc_director`."
            )
        super().check_config_dict(config_dict, source)

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_heads

    def decoder_config(self) -> MistralConfig:
        """The `MistralConfig` of the decoder: a one-token vocabulary (the model feeds `inputs_embeds`), a sliding
        window of `window` ticks, this config's sizes."""
        return MistralConfig(
            vocab_size=1,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_key_value_heads,
            sliding_window=self.window,
            attention_dropout=self.dropout,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=None,
        )
