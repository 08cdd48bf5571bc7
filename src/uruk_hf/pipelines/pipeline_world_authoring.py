"""`UrukWorldMapPipeline`: world maps from knob vectors with a WS3 denoiser, diffusers' `DPMSolverMultistepScheduler`
and classifier-free guidance.

Why not diffusers' own loader layout: the design card makes every model a transformers `PreTrainedModel` in its
Hub subfolder (`AutoModel.from_pretrained(repo, subfolder=...)`), and diffusers' `DiffusionPipeline.from_pretrained`
expects each component in its own folder named in `model_index.json`, with no subfolder of a larger repo. So the
denoiser stays where every Uruk model is (config.json and model.safetensors at the subfolder's root), its sampler
config sits beside it in `scheduler/`, and `UrukWorldMapPipeline.from_pretrained(repo, subfolder=...)` loads both
(from a folder, the Hub, or the Hub cache offline); everything else is `DiffusionPipeline`'s.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DiffusionPipeline, DPMSolverMultistepScheduler
from diffusers.utils import BaseOutput

__all__ = ["UrukWorldMapPipeline", "UrukWorldMapPipelineOutput"]


@dataclass
class UrukWorldMapPipelineOutput(BaseOutput):
    """Output of [`UrukWorldMapPipeline`].

    Args:
        maps (`np.ndarray` of shape `(requests * maps_per_request, map_channels, size, size)`):
            The sampled maps as channels in [-1, 1] (`uruk_hf.data.terrain.worldmap.WorldMap.from_channels` decodes
            one), grouped by request.
    """

    maps: np.ndarray


class UrukWorldMapPipeline(DiffusionPipeline):
    """Samples world maps for knob vectors (see the module docstring).

    Args:
        denoiser ([`UrukWS3WorldAuthoring`]): the knob-conditioned noise predictor.
        scheduler ([`DPMSolverMultistepScheduler`]): the sampler (any diffusers scheduler of the denoiser's
            training schedule works).

    Example:

    ```python
    >>> from uruk_hf.pipelines import UrukWorldMapPipeline
    >>> from uruk_hf.data.terrain.worldmap import WorldMap

    >>> pipeline = UrukWorldMapPipeline.from_pretrained("org/uruk", subfolder="workstreams/ws3_world_authoring")
    >>> channels = pipeline(knobs, num_inference_steps=25, guidance_scale=2.0).maps  # knobs: (requests, 16)
    >>> world = WorldMap.from_channels(channels[0])
    ```
    """

    model_cpu_offload_seq = "denoiser"

    def __init__(self, denoiser, scheduler):
        super().__init__()
        self.register_modules(denoiser=denoiser, scheduler=scheduler)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, subfolder: str | None = None, **kwargs):
        """The denoiser from `pretrained_model_name_or_path` (a folder or Hub repo id, with `subfolder`) and its
        sampler from `scheduler/` beside it; `kwargs` go to both loaders (`revision`, `cache_dir`, `token`,
        `local_files_only`, ...)."""
        from ..models.ws3_world_authoring import UrukWS3WorldAuthoring

        denoiser = UrukWS3WorldAuthoring.from_pretrained(
            pretrained_model_name_or_path, subfolder=subfolder or "", **kwargs
        )
        scheduler_folder = "/".join(part for part in (subfolder, "scheduler") if part)
        scheduler = DPMSolverMultistepScheduler.from_pretrained(
            pretrained_model_name_or_path, subfolder=scheduler_folder, **kwargs
        )
        return cls(denoiser=denoiser.eval(), scheduler=scheduler)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Writes the denoiser at `save_directory` and the sampler config in `save_directory/scheduler`."""
        self.denoiser.save_pretrained(save_directory, **kwargs)
        self.scheduler.save_pretrained(os.path.join(save_directory, "scheduler"))

    @torch.no_grad()
    def __call__(
        self,
        knobs: torch.Tensor | np.ndarray,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        maps_per_request: int = 1,
        generator: torch.Generator | None = None,
    ) -> UrukWorldMapPipelineOutput:
        """Samples `maps_per_request` maps for each row of `knobs` (`(requests, num_knobs)`, each in [0, 1]).

        Args:
            num_inference_steps: sampler steps (default: the denoiser config's).
            guidance_scale: classifier-free guidance (default: the config's; 1 disables it, above 1 follows the
                knobs more closely).
            generator: seeds the initial noise.

        Raises:
            ValueError: `knobs` is not `(requests, num_knobs)` in [0, 1], or holds NaN/Inf.
        """
        config = self.denoiser.config
        knobs = torch.as_tensor(np.asarray(knobs, np.float32))
        if knobs.ndim != 2 or knobs.shape[1] != config.num_knobs or not torch.isfinite(knobs).all():
            raise ValueError(f"knobs must be (requests, {config.num_knobs}) finite values, got {tuple(knobs.shape)}.")
        if (knobs < 0).any() or (knobs > 1).any():
            raise ValueError("knobs must lie in [0, 1] (the range of every knob of WORLD_KNOBS).")
        steps = num_inference_steps or config.num_inference_steps
        scale = config.guidance_scale if guidance_scale is None else guidance_scale
        knobs = knobs.repeat_interleave(maps_per_request, dim=0).to(self.device)
        shape = (len(knobs), config.map_channels, config.map_size, config.map_size)
        sample = torch.randn(shape, generator=generator).to(self.device)
        self.scheduler.set_timesteps(steps)
        sample = sample * self.scheduler.init_noise_sigma
        guided = scale != 1.0
        for timestep in self.scheduler.timesteps:
            model_input = self.scheduler.scale_model_input(sample, timestep)
            if guided:
                doubled = torch.cat([model_input, model_input])
                drop = torch.cat([torch.zeros(len(knobs), dtype=torch.bool), torch.ones(len(knobs), dtype=torch.bool)])
                noise = self.denoiser(doubled, timestep, knobs=torch.cat([knobs, knobs]), drop_condition=drop).sample
                conditional, unconditional = noise.chunk(2)
                noise = unconditional + scale * (conditional - unconditional)
            else:
                noise = self.denoiser(model_input, timestep, knobs=knobs).sample
            sample = self.scheduler.step(noise, timestep, sample).prev_sample
        return UrukWorldMapPipelineOutput(maps=sample.clamp(-1.0, 1.0).cpu().numpy())
