"""ONNX Runtime inference of an exported NPC Director, in the style of Optimum's `ORTModel`: `from_pretrained`
takes a folder or a Hub repo id (with `subfolder`). `step` is the game's call (one tick for a batch of NPCs on a
fixed-size state); calling the object on whole episodes steps through them and returns the same
`UrukNPCDirectorOutput` fields as the PyTorch model."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_npc_director import STEP_STATE_NAMES, UrukNPCDirectorOutput, UrukNPCDirectorStepOutput

__all__ = ["UrukORTNPCDirector"]


class UrukORTNPCDirector(UrukORTModel):
    """An exported NPC Director on an `onnxruntime.InferenceSession` (`from_pretrained`: `UrukORTModel`).

    Example (a game loop; `initial_state` for newly spawned NPCs, `next_state` after every tick):

    ```python
    >>> director = UrukORTNPCDirector.from_pretrained("org/uruk", subfolder="npc_director_v2")
    >>> state = director.initial_state(64)
    >>> outputs = director.step(observations, **state)  # (64, 1, 34) float32: this tick's sensing
    >>> states, moves = outputs.state_logits[:, 0].argmax(-1), outputs.move_logits[:, 0].argmax(-1)
    >>> state = director.next_state(outputs)
    ```
    """

    def initial_state(self, batch_size: int) -> dict[str, np.ndarray]:
        """The state before an NPC's first tick (zeros; `past_ticks` int64, the rest float32)."""
        config = self.config
        shape = (batch_size, config.num_layers, config.num_key_value_heads, config.window - 1, config.head_dim)
        return {
            "past_ticks": np.zeros((batch_size, 1), np.int64),
            "past_keys": np.zeros(shape, np.float32),
            "past_values": np.zeros(shape, np.float32),
            "past_mask": np.zeros((batch_size, config.window - 1), np.float32),
        }

    @staticmethod
    def next_state(outputs: UrukNPCDirectorStepOutput) -> dict[str, np.ndarray]:
        """The state of the next `step` from a step's output."""
        return {f"past_{name}": outputs[f"present_{name}"] for name in STEP_STATE_NAMES}

    def step(self, observations: np.ndarray | torch.Tensor, **state: np.ndarray) -> UrukNPCDirectorStepOutput:
        """One tick for a batch of NPCs: `observations` `(batch, 1, observation_size)` and the state (keyword
        arguments `past_ticks`, `past_keys`, `past_values`, `past_mask`). Returns numpy arrays: the logits and the
        `present_*` state.

        Raises:
            ValueError: wrong shape, NaN/Inf values, or a state of another batch size.
        """
        array = self._checked(observations, ticks=1)
        missing = {f"past_{name}" for name in STEP_STATE_NAMES} - set(state)
        if missing:
            raise ValueError(f"step needs the state {sorted(missing)}: start from initial_state(batch_size).")
        for name, value in state.items():
            if len(value) != len(array):
                raise ValueError(f"{name} holds {len(value)} NPCs where observations hold {len(array)}.")
        found = self.session.run(self.output_names, {"observations": array, **state})
        return UrukNPCDirectorStepOutput(**dict(zip(self.output_names, found)))

    def __call__(self, observations: torch.Tensor | np.ndarray) -> UrukNPCDirectorOutput:
        """Steps through `(batch, ticks, observation_size)` episodes from their first tick and returns the logits of
        every tick as tensors (as the PyTorch model's forward).

        Raises:
            ValueError: wrong shape, or NaN/Inf values.
        """
        array = self._checked(observations)
        state, states, moves = self.initial_state(len(array)), [], []
        for tick in range(array.shape[1]):
            outputs = self.step(array[:, tick : tick + 1], **state)
            state = self.next_state(outputs)
            states.append(outputs.state_logits)
            moves.append(outputs.move_logits)
        return UrukNPCDirectorOutput(
            state_logits=torch.from_numpy(np.concatenate(states, axis=1)),
            move_logits=torch.from_numpy(np.concatenate(moves, axis=1)),
        )

    forward = __call__

    def _checked(self, observations, ticks: int | None = None) -> np.ndarray:
        if not isinstance(observations, torch.Tensor | np.ndarray):
            raise TypeError(f"observations must be a numpy array or torch tensor, got {type(observations).__name__}.")
        array = observations.detach().cpu().numpy() if isinstance(observations, torch.Tensor) else observations
        array = np.ascontiguousarray(array, dtype=np.float32)
        size = self.config.observation_size
        if array.ndim != 3 or array.shape[-1] != size or 0 in array.shape or ticks not in (None, array.shape[1]):
            expected = f"(batch, {ticks or 'ticks'}, {size})"
            raise ValueError(f"observations must be {expected}, got {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError("observations hold NaN/Inf values.")
        return array
