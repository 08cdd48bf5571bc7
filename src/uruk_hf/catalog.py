"""The published models: which family, role and size each is, its DESIGN §1 budget and its Hub subfolder.

This is the one list that the CLI (`uruk models`), the pipeline and the publisher read; adding a family's
published model is adding a row here.
"""

from dataclasses import dataclass

import torch
from transformers import PretrainedConfig, PreTrainedModel

from .models.v2_optimized import UrukV2Optimized, UrukV2OptimizedConfig
from .models.v2_ultra import UrukV2Ultra, UrukV2UltraConfig
from .models.ws5_cinematic import UrukWS5CinematicConfig, UrukWS5CinematicRenderer

__all__ = ["PUBLISHED_BY_KEY", "PUBLISHED_MODELS", "PublishedModel", "count_parameters"]

BUDGET_TOLERANCE = 0.05
"""Full-size models must land within ±5% of their DESIGN §1 parameter budget."""


@dataclass(frozen=True)
class PublishedModel:
    """One published model.

    Attributes:
        key (`str`): its name in run records and `results.json` (e.g. `"v2_ultra"`).
        model_class (`type[PreTrainedModel]`): the model class.
        config_class (`type[PretrainedConfig]`): its config class (`from_preset` builds each size).
        role (`str`): the config role (`"teacher"` or `"student"`).
        budget (`int`): the full-size parameter count of DESIGN §1.
        subfolder (`str`): the Hub-native subfolder of the published repo.
        description (`str`): what the model does, for its card.
    """

    key: str
    model_class: type[PreTrainedModel]
    config_class: type[PretrainedConfig]
    role: str
    budget: int
    subfolder: str
    description: str = ""

    def config(self, preset: str = "full") -> PretrainedConfig:
        """The config of this model at `preset`."""
        return self.config_class.from_preset(preset, role=self.role)


PUBLISHED_MODELS = [
    PublishedModel(
        "v2_ultra_teacher",
        UrukV2Ultra,
        UrukV2UltraConfig,
        "teacher",
        37_400_000,
        "v2_ultra_teacher",
        "The V2-Ultra teacher: renders the final frame and per-pixel material classes from the 32-channel layout (a "
        "12-channel G-buffer, a cheap direct-light render and screen-space extras, with its own warped previous "
        "frame as history). The V2-Ultra student is distilled from it.",
    ),
    PublishedModel(
        "v2_ultra",
        UrukV2Ultra,
        UrukV2UltraConfig,
        "student",
        6_920_000,
        "v2_ultra",
        "V2-Ultra: the real-time student distilled from the V2-Ultra teacher through the 2-stage curriculum "
        "(foundation: frame reconstruction + teacher matching; fine-tune on the ground truth: material head, started "
        "from the teacher's, and MS-SSIM). Renders the final frame and per-pixel material classes from the 32-channel "
        "layout.",
    ),
    PublishedModel(
        "v2_optimized",
        UrukV2Optimized,
        UrukV2OptimizedConfig,
        "student",
        6_920_000,
        "v2_optimized",
        "V2-Optimized: the V2-Ultra student's architecture, warm-started from its stage-1 weights and trained "
        "through its own curriculum (rendering, then material) with MS-SSIM and quality gates between stages.",
    ),
    PublishedModel(
        "ws5_cinematic_renderer",
        UrukWS5CinematicRenderer,
        UrukWS5CinematicConfig,
        "teacher",
        10_150_000,
        "workstreams/ws5_cinematic_renderer",
        "The WS5 cinematic renderer: the final frame from a 19-channel layout (the G-buffer, a cheap direct-light "
        "render, world position and ambient occlusion).",
    ),
    PublishedModel(
        "ws5_student",
        UrukWS5CinematicRenderer,
        UrukWS5CinematicConfig,
        "student",
        3_550_000,
        "distillation/ws5_student",
        "The WS5 student, distilled from the WS5 cinematic renderer (frame loss to the ground truth and to the "
        "teacher's frame).",
    ),
]
PUBLISHED_BY_KEY = {entry.key: entry for entry in PUBLISHED_MODELS}
"""The published models by key."""


def count_parameters(model_class: type[PreTrainedModel], config: PretrainedConfig) -> int:
    """Parameters of `model_class(config)`, built on the meta device (no memory, no init time)."""
    with torch.device("meta"):
        model = model_class(config)
    return sum(parameter.numel() for parameter in model.parameters())
