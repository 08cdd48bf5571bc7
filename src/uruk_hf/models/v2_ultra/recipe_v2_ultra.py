"""The V2-Ultra family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the teacher (frame + materials, gate against `direct`) -> Distillation of
the student through the seed's 2-stage curriculum (stage 1 foundation: frame reconstruction + teacher matching;
stage 2 fine-tune on the ground truth: adds the material head, started from the teacher's, the teacher's material
distribution and MS-SSIM). The pipeline adds the student trained through the same curriculum without a teacher,
the control a distilled student must beat.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry, PipelineRun
from ...training.losses import FRAME_AND_MATERIAL_LOSS, DistillationWeights, LossWeights
from ...training.run import Lifecycle
from .configuration_v2_ultra import UrukV2UltraConfig
from .modeling_v2_ultra import UrukV2Ultra

__all__ = ["FAMILY", "V2_ULTRA_CURRICULUM", "train_v2_ultra", "train_v2_ultra_scratch"]

V2_ULTRA_CURRICULUM = [
    ("stage1", LossWeights(l1=1.0), DistillationWeights(teacher_frame=1.0)),
    ("stage2", FRAME_AND_MATERIAL_LOSS, DistillationWeights(teacher_frame=0.0, material_kl=0.05)),
]
"""The V2-Ultra student's 2-stage curriculum (the seed's): stage 1 foundation, frame reconstruction + teacher
matching; stage 2 fine-tune on the ground truth, adds the material head (labels and the teacher's distribution) and
MS-SSIM. Stage 2 drops the teacher's frame: measured at the quick preset, where the teacher is no better than its
student (30.81 against 30.84 dB validation), the student's stage-2 PSNR stayed at the teacher's level (30.93) while
the same stage without a teacher rose to 31.18. The student's material head starts as the teacher's
(`FrameReconstructionTask.prepare_student`); the KL term (0.05 x T^2 = 0.2) then weighs as much as the labels'
cross-entropy (0.2): at 1.0 it weighed 20 times more, and the student followed the teacher's distribution to 40.0%
test mIoU where a student trained on the labels alone reached 47.8%."""

_TIME_BUDGETS = {"quick": (210.0, 240.0)}
"""Production and curriculum seconds per preset. The student gets the longest curriculum of the families: it trains
two heads and has the hardest targets."""


def train_v2_ultra(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """The teacher's Production, then the student's distillation; writes both models and the seed's three legacy
    files (global best, stage 1, stage 2)."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, seed=seed)
    teacher, _, learning_rate = lifecycle.train_model("v2_ultra_teacher", FRAME_AND_MATERIAL_LOSS)
    lifecycle.smoke(lifecycle.new_model("v2_ultra"), V2_ULTRA_CURRICULUM[0][1], name="smoke_student")
    student, record = lifecycle.distill("v2_ultra", teacher, learning_rate, V2_ULTRA_CURRICULUM)
    lifecycle.save_model("v2_ultra", student, record)
    lifecycle.save_curriculum_legacy("v2_ultra", student, record, {"stage1": 1, "stage2": 2})
    return lifecycle.write({"learning_rate": learning_rate})


def train_v2_ultra_scratch(data: Path, output: Path, preset: str, resume: bool, family_record: dict) -> dict:
    """The control of the distilled student: the same student, curriculum and learning rate, without a teacher,
    within the distilled student's training time, with its seed. Writes `output/models/v2_ultra_scratch`."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, seed=family_record["seed"])
    scratch = [(name, weights, None) for name, weights, _ in V2_ULTRA_CURRICULUM]
    time_s = family_record["stages"]["distillation"]["seconds"]
    student, record = lifecycle.distill(
        "v2_ultra_scratch", None, family_record["learning_rate"], scratch, folder_name="scratch", time_s=time_s
    )
    lifecycle.save_model("v2_ultra_scratch", student, record)
    return record


FAMILY = Family(
    name="v2_ultra",
    title="V2-Ultra",
    dataset_kind="gbuffer_clips",
    task="uruk_hf.training.tasks.frame_reconstruction:FrameReconstructionTask",
    train=train_v2_ultra,
    controls=(PipelineRun("v2_ultra_scratch", train_v2_ultra_scratch),),
    onnx_config="uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer:UrukRendererOnnxConfig",
    models=(
        ModelEntry(
            key="v2_ultra_teacher",
            model_class=UrukV2Ultra,
            config_class=UrukV2UltraConfig,
            role="teacher",
            run_folder="v2_ultra/models/v2_ultra_teacher",
            subfolder="v2_ultra_teacher",
            budget=37_400_000,
            description=(
                "The V2-Ultra teacher: renders the final frame and per-pixel material classes from the 32-channel "
                "layout (a 12-channel G-buffer, a cheap direct-light render and screen-space extras, with its own "
                "warped previous frame as history). The V2-Ultra student is distilled from it."
            ),
            curve=("v2_ultra/production",),
        ),
        ModelEntry(
            key="v2_ultra",
            model_class=UrukV2Ultra,
            config_class=UrukV2UltraConfig,
            role="student",
            run_folder="v2_ultra/models/v2_ultra",
            subfolder="v2_ultra",
            budget=6_920_000,
            description=(
                "V2-Ultra: the real-time student distilled from the V2-Ultra teacher through the 2-stage curriculum "
                "(foundation: frame reconstruction + teacher matching; fine-tune on the ground truth: material head, "
                "started from the teacher's, and MS-SSIM). Renders the final frame and per-pixel material classes "
                "from the 32-channel layout."
            ),
            legacy_files=(
                "v2_ultra/v2_ultra_global_best.pt",
                "v2_ultra/v2_ultra_best_stage1.pt",
                "v2_ultra/v2_ultra_best_stage2.pt",
            ),
            onnx_files=("onnx/uruk_v2_ultra_best.onnx",),
            curve=("v2_ultra/distillation",),
            seed_claims=(
                ("V2-Ultra: 94.6% material accuracy", "material_accuracy", "test split"),
                ("exceeds DLSS 5 quality", None, "not measured: DLSS is closed; OIDN is our measured reference"),
            ),
        ),
        ModelEntry(
            key="v2_ultra_scratch",
            model_class=UrukV2Ultra,
            config_class=UrukV2UltraConfig,
            role="student",
            run_folder="v2_ultra_scratch/models/v2_ultra_scratch",
            description="The V2-Ultra student trained through the same curriculum without its teacher (a control).",
            curve=("v2_ultra_scratch/scratch",),
        ),
    ),
)
