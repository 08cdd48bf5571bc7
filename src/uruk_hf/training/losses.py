"""Training losses on tone-mapped frames (the metric space, DESIGN §2) and material logits."""

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..metrics import ms_ssim_settings
from ..tonemap import tonemap

__all__ = [
    "FRAME_AND_MATERIAL_LOSS",
    "FRAME_LOSS",
    "DistillationWeights",
    "LossWeights",
    "distillation_loss",
    "frame_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "renderer_loss",
    "teacher_bounded_l1",
]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms.

    Attributes:
        l1 (`float`): L1 between tone-mapped frames.
        log_mse (`float`): the mean over frames of `log(1 + MSE / 1e-4)` between tone-mapped frames: the per-frame
            PSNR that the metric averages (`-10 log10 MSE`), softened for frames already better than 40 dB so that
            they do not dominate. Each frame's gradient is scaled by its own error, so a clean frame counts as
            much as a noisy one, as it does in mean PSNR.
        ms_ssim (`float`): `1 - MS-SSIM` between tone-mapped frames (small-resolution settings below 176 px).
        material (`float`): cross-entropy of material logits on labelled pixels (0 disables the head's loss).
        adversarial (`float`): the hinge generator term `-D(T(p))` of a patch discriminator on tone-mapped frames
            (`FrameReconstructionTask` trains the discriminator; 0 disables it).
    """

    l1: float = 1.0
    log_mse: float = 0.0
    ms_ssim: float = 0.0
    material: float = 0.0
    adversarial: float = 0.0


_LOG_MSE_SOFTENING = 1e-4
"""The mean squared error (40 dB PSNR) below which `LossWeights.log_mse` flattens from a log to a linear term."""

FRAME_LOSS = LossWeights(l1=1.0, ms_ssim=0.2)
"""L1 + MS-SSIM on tone-mapped frames."""
FRAME_AND_MATERIAL_LOSS = LossWeights(l1=1.0, ms_ssim=0.2, material=0.2)
"""`FRAME_LOSS` plus the material cross-entropy."""


@dataclass(frozen=True)
class DistillationWeights:
    """Weights of the teacher terms of a renderer student's loss.

    Attributes:
        teacher_frame (`float`): teacher-bounded L1 to the teacher's frame (`teacher_bounded_l1`).
        material_kl (`float`): KL divergence to the teacher's material distribution on labelled pixels.
        temperature (`float`): softmax temperature of the KL term (the term is scaled by its square).
    """

    teacher_frame: float = 1.0
    material_kl: float = 0.0
    temperature: float = 2.0


def frame_loss(prediction: torch.Tensor, target: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    """`l1 * |T(p) - T(t)| + log_mse * mean_frames log(1 + MSE(T(p), T(t)) / 1e-4)
    + ms_ssim * (1 - MS-SSIM(T(p), T(t)))` with `T` the project's tone map."""
    predicted, reference = tonemap(prediction), tonemap(target)
    loss = predicted.new_zeros(())
    if weights.l1:
        loss = loss + weights.l1 * F.l1_loss(predicted, reference)
    if weights.log_mse:
        per_frame = (predicted - reference).square().flatten(1).mean(dim=1)
        loss = loss + weights.log_mse * torch.log1p(per_frame / _LOG_MSE_SOFTENING).mean()
    if weights.ms_ssim:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

        settings = ms_ssim_settings(*predicted.shape[-2:])
        similarity = multiscale_structural_similarity_index_measure(predicted, reference, data_range=1.0, **settings)
        loss = loss + weights.ms_ssim * (1.0 - similarity)
    return loss


def renderer_loss(outputs: list, batch: dict, weights: LossWeights) -> torch.Tensor:
    """Mean over the frames of a clip of the frame loss plus the weighted material cross-entropy."""
    total = 0.0
    for k, output in enumerate(outputs):
        total = total + frame_loss(output.frame, batch["frame_targets"][:, k], weights)
        if weights.material and output.material_logits is not None:
            labels = batch["material_labels"][:, k]
            if (labels >= 0).any():
                total = total + weights.material * F.cross_entropy(output.material_logits, labels, ignore_index=-100)
    return total / len(outputs)


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss (Lim & Ye 2017; used by SAGAN and BigGAN):
    `relu(1 - D(real)) + relu(1 + D(fake))` averaged over patches."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's hinge loss: `-D(fake)` averaged over patches."""
    return -fake_scores.mean()


def teacher_bounded_l1(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 to the teacher's frame, counted only where the teacher is closer to the ground truth than the student
    (per pixel and channel, tone-mapped): the teacher-bounded term of Chen et al. 2017 ("Learning Efficient Object
    Detection Models with Knowledge Distillation"). Where the student is already better, a weaker teacher cannot
    pull it back."""
    student, teacher, target = tonemap(student), tonemap(teacher.detach()), tonemap(target)
    teacher_is_closer = ((teacher - target).abs() < (student - target).abs()).to(student.dtype).detach()
    return ((student - teacher).abs() * teacher_is_closer).mean()


def distillation_loss(
    student_outputs: list,
    teacher_outputs: list,
    batch: dict,
    weights: LossWeights,
    teacher_weight: float = 1.0,
    temperature: float = 2.0,
    kl_weight: float = 1.0,
) -> torch.Tensor:
    """Student loss: the renderer loss to ground truth, plus `teacher_weight` times the teacher-bounded L1 to the
    teacher's frame (`teacher_bounded_l1`), plus `kl_weight` times the temperature-scaled KL divergence to the
    teacher's material distribution (Hinton et al.; multiplied by `temperature**2` to keep gradient scale) on
    labelled pixels."""
    loss = renderer_loss(student_outputs, batch, weights)
    for k, (student, teacher) in enumerate(zip(student_outputs, teacher_outputs)):
        if teacher_weight:
            bounded = teacher_bounded_l1(student.frame, teacher.frame, batch["frame_targets"][:, k])
            loss = loss + teacher_weight * bounded / len(student_outputs)
        if kl_weight and student.material_logits is not None and teacher.material_logits is not None:
            labelled = (batch["material_labels"][:, k] >= 0).unsqueeze(1)
            student_log = F.log_softmax(student.material_logits / temperature, dim=1)
            teacher_prob = F.softmax(teacher.material_logits.detach() / temperature, dim=1)
            divergence = (teacher_prob * (teacher_prob.clamp_min(1e-8).log() - student_log)).sum(1, keepdim=True)
            pixels = labelled.sum().clamp_min(1)
            loss = loss + kl_weight * temperature**2 * (divergence * labelled).sum() / pixels / len(student_outputs)
    return loss
