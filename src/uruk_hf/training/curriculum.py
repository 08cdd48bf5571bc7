"""Curricula: a list of `(stage name, loss-term weights, teacher terms)` turned into `CurriculumStage`s that both
training loops run, each stage starting from the previous stage's best weights with its own warm-up and cosine
annealing. A family's own curricula live in its recipe (`uruk_hf.models.<family>.recipe_<family>`)."""

from dataclasses import replace

from .distillation import CurriculumStage
from .gates import QualityGate
from .progress import StageSettings

__all__ = ["curriculum_stages"]


def curriculum_stages(
    curriculum: list[tuple],
    template: StageSettings,
    time_budget_s: float | None = None,
    gates: list[QualityGate | None] | None = None,
) -> list[CurriculumStage]:
    """The `CurriculumStage`s of `curriculum`: `template`'s settings (each stage at its learning rate),
    `time_budget_s` shared evenly over the stages, and `gates[k]` checked at the end of stage `k`."""
    share = None if time_budget_s is None else time_budget_s / len(curriculum)
    gates = gates or [None] * len(curriculum)
    return [
        CurriculumStage(
            replace(
                template,
                name=name,
                weights=weights,
                time_budget_s=share if share is not None else template.time_budget_s,
            ),
            distillation,
            gate,
        )
        for (name, weights, distillation), gate in zip(curriculum, gates)
    ]
