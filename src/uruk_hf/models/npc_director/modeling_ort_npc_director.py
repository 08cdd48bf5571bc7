"""ONNX Runtime inference of an exported NPC Director, in the style of Optimum's `ORTModel`: `from_pretrained`
takes a folder or a Hub repo id (with `subfolder`). `step` is the game's call (one tick for a batch of NPCs on a
fixed-size state); calling the object on whole episodes steps through them and returns the same
`UrukNPCDirectorOutput` fields as the PyTorch model."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_npc_director import (
    UrukNPCDirector,
    UrukNPCDirectorOutput,
    UrukNPCDirectorStepOutput,
    flat_cache_names,
    initial_step_state,
    map_step_state,
    step_feed,
)

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

    def initial_state(self, batch_size: int) -> dict:
        """The state before an NPC's first tick (zeros), as `UrukNPCDirector.initial_state` in numpy."""
        return map_step_state(initial_step_state(self.config, batch_size), torch.Tensor.numpy)

    next_state = staticmethod(UrukNPCDirector.next_state)

    def step(
        self, observations: np.ndarray | torch.Tensor, past_ticks, past_mask, past_key_values
    ) -> UrukNPCDirectorStepOutput:
        """One tick for a batch of NPCs: `observations` `(batch, 1, observation_size)` and the state (as
        `UrukNPCDirector.step`). Returns numpy arrays: the logits and the `present_*` state.

        Raises:
            ValueError: wrong shape, NaN/Inf values, or a state of another batch size or layer count.
        """
        array = self._checked(observations, ticks=1)
        layers = self.config.num_layers
        if len(past_key_values) != layers:
            raise ValueError(f"past_key_values holds {len(past_key_values)} layers where the model has {layers}.")
        feed = step_feed(array, past_ticks, past_mask, past_key_values)
        for name, value in feed.items():
            if len(value) != len(array):
                raise ValueError(f"{name} holds {len(value)} NPCs where observations hold {len(array)}.")
        found = dict(zip(self.output_names, self.session.run(self.output_names, feed)))
        present = [found[name] for name in flat_cache_names("present", layers)]
        return UrukNPCDirectorStepOutput(
            state_logits=found["state_logits"],
            move_logits=found["move_logits"],
            present_ticks=found["present_ticks"],
            present_mask=found["present_mask"],
            present_key_values=tuple(zip(present[0::2], present[1::2])),
        )

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
