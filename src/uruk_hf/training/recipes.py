"""The loss terms and curricula of each family, shared by `uruk train` and the training scripts.

Frames: L1 + MS-SSIM on tone-mapped frames. Materials: cross-entropy on labelled pixels. Stages that train both
heads select checkpoints by PSNR + 10 x material mIoU (`MATERIAL_SELECTION_WEIGHT`: ten mIoU points weigh as much
as 1 dB). A curriculum is a list of `(stage name, ground-truth loss terms, teacher terms)`; each stage starts from
the previous stage's best weights with its own warm-up and cosine annealing.
"""

from dataclasses import replace

from .distillation import CurriculumStage, DistillationWeights
from .lifecycle import QualityGate
from .losses import LossWeights
from .stage import StageSettings

__all__ = [
    "FRAME_AND_MATERIAL_LOSS",
    "FRAME_LOSS",
    "MATERIAL_SELECTION_WEIGHT",
    "V2_OPTIMIZED_CURRICULUM",
    "V2_OPTIMIZED_MATERIAL_GATE",
    "V2_ULTRA_CURRICULUM",
    "WS5_CURRICULUM",
    "curriculum_stages",
]

FRAME_LOSS = LossWeights(l1=1.0, ms_ssim=0.2)
FRAME_AND_MATERIAL_LOSS = LossWeights(l1=1.0, ms_ssim=0.2, material=0.2)
MATERIAL_SELECTION_WEIGHT = 10.0

V2_ULTRA_CURRICULUM = [
    ("stage1", LossWeights(l1=1.0), DistillationWeights(teacher_frame=1.0)),
    ("stage2", FRAME_AND_MATERIAL_LOSS, DistillationWeights(teacher_frame=0.0, material_kl=0.05)),
]
"""The V2-Ultra student's 2-stage curriculum (the seed's): stage 1 foundation, frame reconstruction + teacher
matching; stage 2 fine-tune on the ground truth, adds the material head (labels and the teacher's distribution) and
MS-SSIM. Stage 2 drops the teacher's frame: measured at the quick preset, where the teacher is no better than its
student (30.81 against 30.84 dB validation), the student's stage-2 PSNR stayed at the teacher's level (30.93) while
the same stage without a teacher rose to 31.18. The student's material head starts as the teacher's
(`distillation.inherit_material_head`); the KL term (0.05 x T^2 = 0.2) then weighs as much as the labels'
cross-entropy (0.2): at 1.0 it weighed 20 times more, and the student followed the teacher's distribution to 40.0%
test mIoU where a student trained on the labels alone reached 47.8%."""

WS5_CURRICULUM = [("distillation", FRAME_LOSS, DistillationWeights(teacher_frame=1.0))]
"""The WS5 student's single distillation stage."""

V2_OPTIMIZED_CURRICULUM = [
    ("rendering", FRAME_LOSS, DistillationWeights(teacher_frame=0.0)),
    ("material", FRAME_AND_MATERIAL_LOSS, DistillationWeights(teacher_frame=0.0)),
]
"""V2-Optimized's stages on the Accelerate loop (no teacher): rendering with MS-SSIM, then materials."""

V2_OPTIMIZED_MATERIAL_GATE = QualityGate(metric="psnr", baseline="previous", margin=-1.0)
"""V2-Optimized's material stage may not cost the frame more than 1 dB of what the rendering stage reached."""


def curriculum_stages(
    curriculum: list[tuple[str, LossWeights, DistillationWeights]],
    template: StageSettings,
    time_budget_s: float | None = None,
    gates: list[QualityGate | None] | None = None,
) -> list[CurriculumStage]:
    """The `CurriculumStage`s of `curriculum`: `template`'s settings (each stage at its learning rate),
    `time_budget_s` shared evenly over the stages, checkpoint selection weighing materials in stages that train
    them, and `gates[k]` checked at the end of stage `k`."""
    share = None if time_budget_s is None else time_budget_s / len(curriculum)
    gates = gates or [None] * len(curriculum)
    return [
        CurriculumStage(
            replace(
                template,
                name=name,
                weights=weights,
                time_budget_s=share if share is not None else template.time_budget_s,
                material_selection_weight=MATERIAL_SELECTION_WEIGHT if weights.material else 0.0,
            ),
            distillation,
            gate,
        )
        for (name, weights, distillation), gate in zip(curriculum, gates)
    ]
