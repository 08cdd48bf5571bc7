"""An exponential moving average of a model's weights over a training stage (diffusers' `EMAModel`).

Diffusion models are usually sampled from such an average rather than from the last optimizer step (diffusers'
training examples keep one with the same warm-up). A stage that keeps one (`StageSettings.ema_max_decay`) validates,
selects and saves the averaged weights, and trains on the raw ones; its checkpoint holds both, the average as
safetensors keyed by parameter name (its step count is the stage's, in `progress.json`), so that resuming reads data
only.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = ["EMA_POWER", "WeightAverage"]

EMA_POWER = 0.75
"""Power of the average's warm-up: the decay after `n` steps is `1 - (1 + n) ** -0.75`, capped at the maximum decay
(0.9953 after 1,000 steps, 0.9975 after 3,000): diffusers' default for its diffusion training examples."""


class WeightAverage:
    """The exponential moving average of `model`'s parameters (diffusers' `EMAModel` with its warm-up, power
    `EMA_POWER`, decay at most `max_decay`).

    Args:
        model: the model whose parameters are averaged (the unwrapped model; its parameter names key the saved
            average).
        max_decay: the largest decay the warm-up reaches.
    """

    def __init__(self, model: torch.nn.Module, max_decay: float):
        from diffusers.training_utils import EMAModel

        if not 0.0 < max_decay < 1.0:
            raise ValueError(f"ema_max_decay must lie strictly between 0 and 1, got {max_decay!r}.")
        self.names = [name for name, _ in model.named_parameters()]
        self.average = EMAModel(
            model.parameters(), decay=max_decay, use_ema_warmup=True, power=EMA_POWER, foreach=True
        )

    @property
    def steps(self) -> int:
        """Optimizer steps averaged so far."""
        return self.average.optimization_step

    def update(self, model: torch.nn.Module) -> None:
        """Folds `model`'s current parameters into the average (after an optimizer step)."""
        self.average.step(model.parameters())

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """`model` holding the averaged parameters inside the block, its own ones again after it."""
        parameters = list(model.parameters())
        self.average.store(parameters)
        self.average.copy_to(parameters)
        try:
            yield model
        finally:
            self.average.restore(parameters)

    def save(self, path: Path) -> None:
        """Writes the averaged parameters to `path` (safetensors, keyed by parameter name)."""
        from safetensors.torch import save_file

        tensors = {name: shadow.detach().contiguous() for name, shadow in zip(self.names, self.average.shadow_params)}
        save_file(tensors, str(path))

    def load(self, path: Path, steps: int) -> None:
        """Restores what `save` wrote, as the average of `steps` optimizer steps (which sets the warm-up's decay).

        Raises:
            FileNotFoundError, UnreadableFileError: no safetensors file at `path`, or a damaged one.
            ValueError: the file does not hold an average of this model's parameters (the message names it and the
                parameter that differs).
        """
        from ..serialization import load_safetensors_file

        tensors = load_safetensors_file(path)
        if sorted(tensors) != sorted(self.names):
            missing = sorted(set(self.names) - set(tensors)) or sorted(set(tensors) - set(self.names))
            raise ValueError(f"{path} averages other parameters than this model's (first differing: {missing[0]}).")
        for name, shadow in zip(self.names, self.average.shadow_params):
            if tensors[name].shape != shadow.shape:
                raise ValueError(
                    f"{path}: the average of {name} has shape {tuple(tensors[name].shape)}, the model's "
                    f"{tuple(shadow.shape)}."
                )
            shadow.copy_(tensors[name])
        self.average.optimization_step = steps
