"""uruk_hf: Hugging Face Hub-native models for game graphics and gameplay: neural renderers, NPC behaviour.

The public classes load on first use (`uruk_hf.UrukV2Ultra` imports torch and transformers then, not before), so
`import uruk_hf` and the `uruk` command start fast. Importing the package registers every model family with
`AutoConfig`, `AutoModel` and `AutoImageProcessor` (as soon as transformers' auto classes are imported), so
`AutoModel.from_pretrained(folder_or_repo, subfolder=...)` loads any published Uruk model.
"""

import importlib
from typing import TYPE_CHECKING

from .auto_registration import install as _install_auto_registration

__version__ = "0.1.0"

_LAZY_ATTRIBUTES = {
    "PRESET_NAMES": "uruk_hf.presets",
    "LegacyCheckpointError": "uruk_hf.legacy",
    "load_legacy_checkpoint": "uruk_hf.legacy",
    "save_legacy_checkpoint": "uruk_hf.legacy",
    "UrukAnimationDirector": "uruk_hf.models.animation_director.modeling_animation_director",
    "UrukAnimationDirectorConfig": "uruk_hf.models.animation_director.configuration_animation_director",
    "UrukORTAnimationDirector": "uruk_hf.models.animation_director.modeling_ort_animation_director",
    "UrukGBufferProcessor": "uruk_hf.models.gbuffer_renderer.processing_gbuffer",
    "UrukNPCDirector": "uruk_hf.models.npc_director.modeling_npc_director",
    "UrukNPCDirectorConfig": "uruk_hf.models.npc_director.configuration_npc_director",
    "UrukORTNPCDirector": "uruk_hf.models.npc_director.modeling_ort_npc_director",
    "UrukORTRenderer": "uruk_hf.models.gbuffer_renderer.modeling_ort",
    "UrukRendererConfig": "uruk_hf.models.gbuffer_renderer.configuration_gbuffer_renderer",
    "UrukRendererOutput": "uruk_hf.models.gbuffer_renderer.modeling_gbuffer_renderer",
    "UrukRendererPreTrainedModel": "uruk_hf.models.gbuffer_renderer.modeling_gbuffer_renderer",
    "UrukV2Optimized": "uruk_hf.models.v2_optimized.modeling_v2_optimized",
    "UrukV2OptimizedConfig": "uruk_hf.models.v2_optimized.configuration_v2_optimized",
    "UrukV2Ultra": "uruk_hf.models.v2_ultra.modeling_v2_ultra",
    "UrukV2UltraConfig": "uruk_hf.models.v2_ultra.configuration_v2_ultra",
    "UrukORTWS3WorldAuthoring": "uruk_hf.models.ws3_world_authoring.modeling_ort_ws3_world_authoring",
    "UrukORTWS4Remapper": "uruk_hf.models.ws4_remapper.modeling_ort_ws4_remapper",
    "UrukORTWS8StructureGenerator": "uruk_hf.models.ws8_structure.modeling_ort_ws8_structure",
    "UrukWS4Remapper": "uruk_hf.models.ws4_remapper.modeling_ws4_remapper",
    "UrukWS4RemapperConfig": "uruk_hf.models.ws4_remapper.configuration_ws4_remapper",
    "UrukWS5CinematicConfig": "uruk_hf.models.ws5_cinematic.configuration_ws5_cinematic",
    "UrukWS5CinematicRenderer": "uruk_hf.models.ws5_cinematic.modeling_ws5_cinematic",
    "UrukWS6RuntimeConfig": "uruk_hf.models.ws6_runtime.configuration_ws6_runtime",
    "UrukWS6RuntimeRenderer": "uruk_hf.models.ws6_runtime.modeling_ws6_runtime",
    "UrukWS3WorldAuthoring": "uruk_hf.models.ws3_world_authoring.modeling_ws3_world_authoring",
    "UrukWS3WorldAuthoringConfig": "uruk_hf.models.ws3_world_authoring.configuration_ws3_world_authoring",
    "UrukWorldMapPipeline": "uruk_hf.pipelines.pipeline_world_authoring",
    "UrukWS8StructureGenerator": "uruk_hf.models.ws8_structure.modeling_ws8_structure",
    "UrukWS8StructureGeneratorConfig": "uruk_hf.models.ws8_structure.configuration_ws8_structure",
}
"""Public name -> the module that defines it (imported on first access)."""

__all__ = [
    "PRESET_NAMES",
    "LegacyCheckpointError",
    "UrukAnimationDirector",
    "UrukAnimationDirectorConfig",
    "UrukGBufferProcessor",
    "UrukNPCDirector",
    "UrukNPCDirectorConfig",
    "UrukORTAnimationDirector",
    "UrukORTNPCDirector",
    "UrukORTRenderer",
    "UrukORTWS3WorldAuthoring",
    "UrukORTWS4Remapper",
    "UrukORTWS8StructureGenerator",
    "UrukRendererConfig",
    "UrukRendererOutput",
    "UrukRendererPreTrainedModel",
    "UrukV2Optimized",
    "UrukV2OptimizedConfig",
    "UrukV2Ultra",
    "UrukV2UltraConfig",
    "UrukWS3WorldAuthoring",
    "UrukWS3WorldAuthoringConfig",
    "UrukWS4Remapper",
    "UrukWS4RemapperConfig",
    "UrukWS5CinematicConfig",
    "UrukWS5CinematicRenderer",
    "UrukWS6RuntimeConfig",
    "UrukWS6RuntimeRenderer",
    "UrukWS8StructureGenerator",
    "UrukWS8StructureGeneratorConfig",
    "UrukWorldMapPipeline",
    "load_legacy_checkpoint",
    "save_legacy_checkpoint",
]

if TYPE_CHECKING:
    from .legacy import LegacyCheckpointError, load_legacy_checkpoint, save_legacy_checkpoint
    from .models.animation_director import UrukAnimationDirector, UrukAnimationDirectorConfig
    from .models.animation_director.modeling_ort_animation_director import UrukORTAnimationDirector
    from .models.gbuffer_renderer.configuration_gbuffer_renderer import UrukRendererConfig
    from .models.gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererOutput, UrukRendererPreTrainedModel
    from .models.gbuffer_renderer.modeling_ort import UrukORTRenderer
    from .models.gbuffer_renderer.processing_gbuffer import UrukGBufferProcessor
    from .models.npc_director import UrukNPCDirector, UrukNPCDirectorConfig
    from .models.npc_director.modeling_ort_npc_director import UrukORTNPCDirector
    from .models.v2_optimized import UrukV2Optimized, UrukV2OptimizedConfig
    from .models.v2_ultra import UrukV2Ultra, UrukV2UltraConfig
    from .models.ws3_world_authoring import UrukWS3WorldAuthoring, UrukWS3WorldAuthoringConfig
    from .models.ws3_world_authoring.modeling_ort_ws3_world_authoring import UrukORTWS3WorldAuthoring
    from .models.ws4_remapper import UrukWS4Remapper, UrukWS4RemapperConfig
    from .models.ws4_remapper.modeling_ort_ws4_remapper import UrukORTWS4Remapper
    from .models.ws5_cinematic import UrukWS5CinematicConfig, UrukWS5CinematicRenderer
    from .models.ws6_runtime import UrukWS6RuntimeConfig, UrukWS6RuntimeRenderer
    from .models.ws8_structure import UrukWS8StructureGenerator, UrukWS8StructureGeneratorConfig
    from .models.ws8_structure.modeling_ort_ws8_structure import UrukORTWS8StructureGenerator
    from .pipelines import UrukWorldMapPipeline
    from .presets import PRESET_NAMES


def __getattr__(name: str):
    if name not in _LAZY_ATTRIBUTES:
        raise AttributeError(f"module 'uruk_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_ATTRIBUTES])


_install_auto_registration()
