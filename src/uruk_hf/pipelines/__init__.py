"""diffusers pipelines of the Uruk families (sampling loops around a trained denoiser)."""

from .pipeline_world_authoring import UrukWorldMapPipeline, UrukWorldMapPipelineOutput

__all__ = ["UrukWorldMapPipeline", "UrukWorldMapPipelineOutput"]
