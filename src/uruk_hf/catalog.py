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

__all__ = ["PUBLISHED_MODELS", "PublishedModel", "count_parameters"]

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
    """

    key: str
    model_class: type[PreTrainedModel]
    config_class: type[PretrainedConfig]
    role: str
    budget: int
    subfolder: str

    def config(self, preset: str = "full") -> PretrainedConfig:
        """The config of this model at `preset`."""
        return self.config_class.from_preset(preset, role=self.role)


PUBLISHED_MODELS = [
    PublishedModel("v2_ultra_teacher", UrukV2Ultra, UrukV2UltraConfig, "teacher", 37_400_000, "v2_ultra_teacher"),
    PublishedModel("v2_ultra", UrukV2Ultra, UrukV2UltraConfig, "student", 6_920_000, "v2_ultra"),
    PublishedModel("v2_optimized", UrukV2Optimized, UrukV2OptimizedConfig, "student", 6_920_000, "v2_optimized"),
    PublishedModel(
        "ws5_cinematic_renderer",
        UrukWS5CinematicRenderer,
        UrukWS5CinematicConfig,
        "teacher",
        10_150_000,
        "workstreams/ws5_cinematic_renderer",
    ),
    PublishedModel(
        "ws5_student",
        UrukWS5CinematicRenderer,
        UrukWS5CinematicConfig,
        "student",
        3_550_000,
        "distillation/ws5_student",
    ),
]


def count_parameters(model_class: type[PreTrainedModel], config: PretrainedConfig) -> int:
    """Parameters of `model_class(config)`, built on the meta device (no memory, no init time)."""
    with torch.device("meta"):
        model = model_class(config)
    return sum(parameter.numel() for parameter in model.parameters())
