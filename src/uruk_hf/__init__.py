"""uruk_hf: Hugging Face Hub-native neural renderers for game graphics.

Importing the package registers every model family with `AutoConfig`, `AutoModel` and `AutoImageProcessor`, so
`AutoModel.from_pretrained(folder_or_repo, subfolder=...)` loads any published Uruk model.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel

from .legacy import LegacyCheckpointError, load_legacy_checkpoint, save_legacy_checkpoint
from .modeling_ort import UrukORTRenderer
from .models.v2_optimized import UrukV2Optimized, UrukV2OptimizedConfig
from .models.v2_ultra import UrukV2Ultra, UrukV2UltraConfig
from .models.ws5_cinematic import UrukWS5CinematicConfig, UrukWS5CinematicRenderer
from .modules.configuration_renderer import PRESET_NAMES, UrukRendererConfig
from .modules.modeling_renderer import UrukRendererOutput, UrukRendererPreTrainedModel
from .processing_gbuffer import UrukGBufferProcessor

__version__ = "0.1.0"

for _config_class, _model_class in (
    (UrukV2UltraConfig, UrukV2Ultra),
    (UrukV2OptimizedConfig, UrukV2Optimized),
    (UrukWS5CinematicConfig, UrukWS5CinematicRenderer),
):
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModel.register(_config_class, _model_class, exist_ok=True)
    AutoImageProcessor.register(_config_class, slow_image_processor_class=UrukGBufferProcessor, exist_ok=True)

__all__ = [
    "PRESET_NAMES",
    "LegacyCheckpointError",
    "UrukGBufferProcessor",
    "UrukORTRenderer",
    "UrukRendererConfig",
    "UrukRendererOutput",
    "UrukRendererPreTrainedModel",
    "UrukV2Optimized",
    "UrukV2OptimizedConfig",
    "UrukV2Ultra",
    "UrukV2UltraConfig",
    "UrukWS5CinematicConfig",
    "UrukWS5CinematicRenderer",
    "load_legacy_checkpoint",
    "save_legacy_checkpoint",
]
