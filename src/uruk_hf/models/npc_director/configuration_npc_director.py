"""Configuration of NPC Director v2: a causal transformer over an NPC's last ticks (1.31M)."""

from transformers import GPT2Config, PretrainedConfig

from ...configuration_utils import UrukConfigMixin
from ...schema import NPC_MOVES, NPC_STATES

__all__ = ["NPC_DIRECTOR_PRESETS", "UrukNPCDirectorConfig"]

NPC_DIRECTOR_PRESETS = {
    "tiny": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32},
    "quick": {"hidden_size": 64, "num_layers": 4, "num_heads": 4, "intermediate_size": 256},
    "full": {"hidden_size": 128, "num_layers": 6, "num_heads": 4, "intermediate_size": 576},
}
"""Decoder sizes per preset; `full` is the published 1.31M model."""


class UrukNPCDirectorConfig(UrukConfigMixin, PretrainedConfig):
    r"""Configuration of [`UrukNPCDirector`]: per tick, an observation vector in, logits over the NPC's states and
    moves out, from a causal transformer (transformers' `GPT2Model`) over the last `window` ticks.

    Args:
        observation_size (`int`, *optional*, defaults to 34):
            Features per tick (`uruk_hf.data.behaviour.simulator.OBSERVATION_FEATURES`).
        num_moves (`int`, *optional*, defaults to 9):
            Moves (stay and 8 directions).
        window (`int`, *optional*, defaults to 64):
            Ticks the model sees: its position embeddings; at run time the last `window` ticks.
        hidden_size (`int`, *optional*, defaults to 128):
            Width of the decoder.
        num_layers (`int`, *optional*, defaults to 6):
            Decoder blocks.
        num_heads (`int`, *optional*, defaults to 4):
            Attention heads per block (`hidden_size` must divide by it).
        intermediate_size (`int`, *optional*, defaults to 576):
            Width of each block's MLP.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout on embeddings, attention and residuals.
        move_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the move cross-entropy beside the state cross-entropy in the model's own loss.
        id2label (`dict[int, str]`, *optional*, defaults to the 8 NPC states):
            The states (idle, patrol, investigate, alert, chase, attack, flee, return).
    """

    model_type = "uruk_npc_director"
    required_fields = ("observation_size", "num_moves", "window", "hidden_size", "num_layers", "num_heads")
    presets = NPC_DIRECTOR_PRESETS

    def __init__(
        self,
        observation_size: int = 34,
        num_moves: int = len(NPC_MOVES),
        window: int = 64,
        hidden_size: int = 128,
        num_layers: int = 6,
        num_heads: int = 4,
        intermediate_size: int = 576,
        dropout: float = 0.0,
        move_loss_weight: float = 1.0,
        **kwargs,
    ):
        if kwargs.get("id2label") is None and kwargs.get("num_labels") is None:
            kwargs["id2label"] = dict(enumerate(NPC_STATES))
            kwargs["label2id"] = {name: index for index, name in enumerate(NPC_STATES)}
        self.observation_size, self.num_moves, self.window = observation_size, num_moves, window
        self.hidden_size, self.num_layers, self.num_heads = hidden_size, num_layers, num_heads
        self.intermediate_size, self.dropout, self.move_loss_weight = intermediate_size, dropout, move_loss_weight
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}.")
        if window < 1 or observation_size < 1:
            raise ValueError(f"window ({window}) and observation_size ({observation_size}) must be at least 1.")

    def decoder_config(self) -> GPT2Config:
        """The `GPT2Config` of the decoder: a one-token vocabulary (the model feeds `inputs_embeds`), `window`
        positions, this config's sizes."""
        return GPT2Config(
            vocab_size=1,
            n_positions=self.window,
            n_embd=self.hidden_size,
            n_layer=self.num_layers,
            n_head=self.num_heads,
            n_inner=self.intermediate_size,
            resid_pdrop=self.dropout,
            embd_pdrop=self.dropout,
            attn_pdrop=self.dropout,
            bos_token_id=0,
            eos_token_id=0,
        )
