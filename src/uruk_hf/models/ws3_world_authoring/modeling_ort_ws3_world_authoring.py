"""ONNX Runtime inference of an exported WS3 denoiser: the same call and output as the PyTorch model, so that
`UrukWorldMapPipeline` samples maps with it unchanged."""

import numpy as np
import torch

from ...modeling_utils import UrukORTModel
from .modeling_ws3_world_authoring import UrukWS3WorldAuthoringOutput, check_denoiser_input

__all__ = ["UrukORTWS3WorldAuthoring"]


class UrukORTWS3WorldAuthoring(UrukORTModel):
    """An exported WS3 denoiser on an `onnxruntime.InferenceSession` (`from_pretrained`: `UrukORTModel`).

    Example:

    ```python
    >>> from diffusers import DPMSolverMultistepScheduler
    >>> from uruk_hf import UrukORTWS3WorldAuthoring, UrukWorldMapPipeline

    >>> denoiser = UrukORTWS3WorldAuthoring.from_pretrained("org/uruk", subfolder="workstreams/ws3_world_authoring")
    >>> scheduler = DPMSolverMultistepScheduler(**denoiser.config.sampler_kwargs())
    >>> maps = UrukWorldMapPipeline(denoiser=denoiser, scheduler=scheduler)(knobs).maps  # knobs: (requests, 16)
    ```
    """

    def __call__(self, sample, timestep, knobs=None, drop_condition=None) -> UrukWS3WorldAuthoringOutput:
        """The prediction for noisy maps `sample` at `timestep` (an int or one per row) and `knobs` (`None`: every
        row unconditional), `drop_condition` marking rows that take the null condition.

        Raises:
            ValueError: wrong shapes, or NaN/Inf in `sample` or `knobs`.
        """
        sample = torch.as_tensor(sample, dtype=torch.float32)
        knobs = None if knobs is None else torch.as_tensor(knobs, dtype=torch.float32)
        check_denoiser_input(self.config, sample, knobs)
        batch = len(sample)
        if knobs is None:
            knobs, drop_condition = torch.zeros(batch, self.config.num_knobs), torch.ones(batch, dtype=torch.bool)
        elif drop_condition is None:
            drop_condition = torch.zeros(batch, dtype=torch.bool)
        timestep = torch.as_tensor(timestep).long().reshape(-1).expand(batch)
        feeds = {
            "sample": sample.numpy(),
            "timestep": np.ascontiguousarray(timestep.numpy()),
            "knobs": knobs.numpy(),
            "drop_condition": torch.as_tensor(drop_condition, dtype=torch.bool).numpy(),
        }
        (prediction,) = self.session.run(["prediction"], feeds)
        return UrukWS3WorldAuthoringOutput(sample=torch.from_numpy(prediction))

    forward = __call__

    def eval(self) -> "UrukORTWS3WorldAuthoring":
        """Nothing to switch (ONNX Runtime always infers); there so that code written for the PyTorch model runs."""
        return self
