"""WS3 world authoring: its config and denoiser (its registry entry and lifecycle: `recipe_ws3_world_authoring`;
its sampler: `uruk_hf.pipelines.UrukWorldMapPipeline`)."""

from .configuration_ws3_world_authoring import UrukWS3WorldAuthoringConfig
from .modeling_ws3_world_authoring import UrukWS3WorldAuthoring, UrukWS3WorldAuthoringOutput

__all__ = ["UrukWS3WorldAuthoring", "UrukWS3WorldAuthoringConfig", "UrukWS3WorldAuthoringOutput"]
