"""Frame reconstruction over clips: the task of the G-buffer renderers (V2-Ultra, V2-Optimized, WS5).

Batches are clips of consecutive frames packed by the model's `UrukGBufferProcessor`; a forward pass is the
recurrent unroll (history is the model's own warped previous output, never ground truth); the loss is L1 +
MS-SSIM on tone-mapped frames plus the material cross-entropy; validation measures frames (PSNR, SSIM, MS-SSIM,
FLIP when asked), materials and temporal stability; gates compare with the cheap `direct` render measured on the
same frames; a stage that trains the material head keeps the checkpoint best at PSNR + 10 x mIoU; a student
learns from its teacher's frames (teacher-bounded L1) and material distribution (KL), and starts from its
teacher's material head. A stage with an adversarial weight adds the hinge generator term of a patch
discriminator on tone-mapped frames, and the task trains that discriminator between the model's steps.
"""

from pathlib import Path

import numpy as np
import torch

from ...metrics import frame_metrics
from ...models.gbuffer_renderer.modeling_gbuffer_renderer import UrukRendererOutput
from ...models.gbuffer_renderer.processing_gbuffer import MATERIAL_PALETTE, UrukGBufferProcessor
from ...modules.upscaling import demodulated_upscale
from ...tonemap import tonemap
from ..data import UrukClipCollator, UrukClipDataset
from ..evaluation import evaluate_renderer
from ..losses import (
    LossWeights,
    distillation_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    renderer_loss,
)
from ..unroll import unroll_clip
from .base import Task

__all__ = [
    "MATERIAL_SELECTION_WEIGHT",
    "FrameReconstructionTask",
    "buffer_baseline",
    "cheap_render_frames",
    "inherit_material_head",
]

MATERIAL_SELECTION_WEIGHT = 10.0
"""Selection score per unit of material mean IoU in stages that train the material head: ten mIoU points weigh as
much as 1 dB of PSNR."""


def cheap_render_frames(arrays: dict[str, np.ndarray], config) -> torch.Tensor:
    """The frame a renderer of `config` refines, from raw `(N, H, W, C)` buffers: its cheap render, or for a
    low-resolution cheap render (`cheap_render_divisor` > 1) that render's albedo-demodulated bilinear upscale (the
    WS6 baseline). `(N, 3, H, W)` linear radiance."""

    def bchw(name):
        return torch.from_numpy(np.asarray(arrays[name], np.float32)).permute(0, 3, 1, 2)

    cheap = bchw(config.cheap_render_buffer)
    if config.cheap_render_divisor == 1:
        return cheap
    return demodulated_upscale(cheap, bchw(config.albedo_buffer), config.cheap_render_divisor)


def buffer_baseline(dataset: UrukClipDataset, config, flip: bool = False) -> dict[str, float]:
    """Frame metrics of the frame a renderer of `config` refines (`cheap_render_frames`: e.g. `direct` as the frame
    itself), against the ground truth of the same `UrukClipDataset` frames: the baseline a gate compares with."""
    rows = np.concatenate(dataset.clips)
    names = {config.cheap_render_buffer, config.albedo_buffer, "ground_truth"}
    arrays = {name: dataset.arrays[name][rows] for name in names}
    target = torch.from_numpy(arrays["ground_truth"].astype(np.float32)).permute(0, 3, 1, 2)
    return frame_metrics(cheap_render_frames(arrays, config), target, flip=flip)


def inherit_material_head(student, teacher) -> bool:
    """Copies the teacher's material head into the student when both have one of the same shapes; returns whether
    it did.

    The V2 material head reads the input buffers, not the trunk (`UrukMaterialHead`), so a teacher's head is a
    drop-in part of its student (the same width at the quick and full presets): copying it hands the student
    everything the teacher learned about materials, and the curriculum's material stage then fine-tunes it on the
    labels and the teacher's distribution. Measured at the quick preset: a student whose head started from scratch
    under the teacher's distribution ended below both the teacher and a from-scratch student."""
    student_head, teacher_head = getattr(student, "material_head", None), getattr(teacher, "material_head", None)
    if student_head is None or teacher_head is None:
        return False
    teacher_state = teacher_head.state_dict()
    student_state = student_head.state_dict()
    if teacher_state.keys() != student_state.keys() or any(
        teacher_state[name].shape != student_state[name].shape for name in student_state
    ):
        return False
    student_head.load_state_dict(teacher_state)
    return True


class FrameReconstructionTask(Task):
    """Frame reconstruction over clips (see the module docstring).

    Args:
        config: the renderer's config (`UrukRendererConfig`).
        material_head_lr_scale (`float`): multiplier of the material head's learning rate: a small classifier of
            per-surface statistics that learns well at rates that would upset the trunk.
        discriminator_learning_rate (`float`): Adam rate of the patch discriminator of adversarial stages (betas
            0.5, 0.999, as in pix2pix).
    """

    gate_metric = "psnr"
    loss_weights_class = LossWeights
    report_columns = (
        ("psnr", "PSNR (dB)"),
        ("material_miou", "mIoU %"),
        ("ssim", "SSIM"),
        ("ms_ssim", "MS-SSIM"),
        ("flip", "FLIP"),
        ("material_accuracy", "material acc. %"),
        ("temporal_error", "temporal"),
        ("ms_per_frame", "ms/frame"),
    )
    curve_metrics = (("psnr", "validation PSNR (dB)"), ("material_miou", "validation material mIoU (%)"))
    int8_metrics = ("psnr", "material_miou")

    def __init__(self, config, material_head_lr_scale: float = 2.0, discriminator_learning_rate: float = 2e-4):
        super().__init__(config)
        self.discriminator_learning_rate = discriminator_learning_rate
        self.discriminator, self._discriminator_optimizer = None, None
        self.processor = UrukGBufferProcessor.from_model_config(config)
        self.collator = UrukClipCollator(self.processor)
        self.material_head_lr_scale = material_head_lr_scale
        self._teacher_cache: dict[int, list[tuple[torch.Tensor, torch.Tensor | None]]] = {}

    def dataset(self, data, split: str, max_items: int | None = None) -> UrukClipDataset:
        return UrukClipDataset(data, split, self.config.input_buffers, max_clips=max_items)

    def collate(self, items: list[dict]) -> dict:
        return self.collator(items)

    def forward(self, model, batch: dict) -> list:
        # The config is passed explicitly: `model` may be wrapped (DDP) or an ONNX Runtime renderer.
        return unroll_clip(model, batch, self.processor, config=self.config)

    def loss(self, outputs: list, batch: dict, weights: LossWeights) -> torch.Tensor:
        """`renderer_loss`, plus the adversarial generator term when `weights.adversarial` is set."""
        loss = renderer_loss(outputs, batch, weights)
        if weights.adversarial:
            scores = self._discriminate(torch.cat([output.frame for output in outputs]))
            loss = loss + weights.adversarial * hinge_generator_loss(scores)
        return loss

    def _discriminate(self, frames: torch.Tensor) -> torch.Tensor:
        """Patch scores of linear-HDR `frames` (tone-mapped first: the metric space), creating the discriminator
        and its optimizer on first use."""
        if self.discriminator is None:
            self._create_discriminator(frames.device)
        return self.discriminator(tonemap(frames))

    def _create_discriminator(self, device) -> None:
        from ...modules.patch_discriminator import PatchDiscriminator

        self.discriminator = PatchDiscriminator().to(device)
        self._discriminator_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=self.discriminator_learning_rate, betas=(0.5, 0.999)
        )

    def state_dict(self) -> dict:
        """The patch discriminator and its optimizer, once an adversarial stage has created them."""
        if self.discriminator is None:
            return {}
        return {
            "discriminator": self.discriminator.state_dict(),
            "discriminator_optimizer": self._discriminator_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        if not state:
            return
        self._create_discriminator(device)
        self.discriminator.load_state_dict(state["discriminator"])
        self._discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])

    def auxiliary_step(self, outputs: list, batch: dict, weights: LossWeights) -> dict[str, float]:
        """One hinge step of the patch discriminator: ground truth against the model's (detached) frames."""
        if not weights.adversarial:
            return {}
        fake = torch.cat([output.frame.detach() for output in outputs])
        real = batch["frame_targets"].flatten(0, 1).to(fake.device)
        loss = hinge_discriminator_loss(self._discriminate(real), self._discriminate(fake))
        self._discriminator_optimizer.zero_grad()
        loss.backward()
        self._discriminator_optimizer.step()
        return {"discriminator_loss": loss.item()}

    def parameter_groups(self, model) -> list[dict]:
        """The trunk and frame head, then the material head (if any) at `material_head_lr_scale`."""
        head = getattr(model, "material_head", None)
        head_ids = {id(parameter) for parameter in head.parameters()} if head is not None else set()
        groups = [
            {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr_scale": 1.0},
            {"params": [p for p in model.parameters() if id(p) in head_ids], "lr_scale": self.material_head_lr_scale},
        ]
        return [group for group in groups if group["params"]]

    def save_extras(self, folder: Path) -> None:
        self.processor.save_pretrained(folder)

    def uses_teacher(self, terms) -> bool:
        return bool(terms is not None and (terms.teacher_frame or terms.material_kl))

    def teacher_outputs(self, teacher, batch: dict) -> list:
        """The teacher's outputs on the batch's clips, frame by frame.

        The teacher is frozen and its inputs (its own history included) do not depend on the student, so each
        clip's unroll is computed once and kept: after the first epoch a distillation step costs what a student
        step costs. Clips without an index (`clip_index` -1) are computed every time."""
        indices = batch["clip_index"].tolist()
        computed = {}
        missing = [row for row, index in enumerate(indices) if index < 0 or index not in self._teacher_cache]
        if missing:
            rows = torch.tensor(missing, device=batch["pixel_values"].device)
            subset = {key: value.index_select(0, rows) for key, value in batch.items() if torch.is_tensor(value)}
            with torch.no_grad():
                outputs = unroll_clip(teacher, subset, self.processor)
            for position, row in enumerate(missing):
                computed[row] = [
                    (
                        output.frame[position].detach(),
                        None if output.material_logits is None else output.material_logits[position].detach(),
                    )
                    for output in outputs
                ]
                if indices[row] >= 0:
                    self._teacher_cache[indices[row]] = computed[row]
        clips = [computed.get(row) or self._teacher_cache[index] for row, index in enumerate(indices)]
        frames = []
        for k in range(len(clips[0])):
            logits = [clip[k][1] for clip in clips]
            frames.append(
                UrukRendererOutput(
                    frame=torch.stack([clip[k][0] for clip in clips]),
                    material_logits=None if logits[0] is None else torch.stack(logits),
                )
            )
        return frames

    def distillation_loss(self, student_outputs, teacher_outputs, batch, weights, terms) -> torch.Tensor:
        if weights.adversarial:
            raise ValueError("A distillation stage has no adversarial term: give it `adversarial=0`.")
        return distillation_loss(
            student_outputs,
            teacher_outputs,
            batch,
            weights,
            teacher_weight=terms.teacher_frame,
            temperature=terms.temperature,
            kl_weight=terms.material_kl,
        )

    def prepare_student(self, student, teacher) -> dict:
        """The student starts from the teacher's material head where the shapes allow (`inherit_material_head`;
        never without a teacher)."""
        return {"material_head_from_teacher": inherit_material_head(student, teacher)}

    def evaluate(self, model, dataset, full: bool = False) -> dict[str, float]:
        """`evaluate_renderer`; FLIP (slow) only when `full`."""
        return evaluate_renderer(model, dataset, self.processor, flip=full, config=self.config)

    @property
    def gate_margin_scale(self) -> float:
        """1 (dB per unit of the preset's margin), or 0.5 for a low-resolution cheap render (WS6): its demodulated
        upscale is already a reconstruction, a stronger reference than a render of direct light alone."""
        return 0.5 if self.config.cheap_render_divisor > 1 else 1.0

    @property
    def gate_baseline(self) -> str:
        """The model's cheap render (`direct`, or `path_1spp` in the ray-reconstruction layout), or
        `demodulated_bilinear` for a low-resolution one (WS6)."""
        if self.config.cheap_render_divisor > 1:
            return "demodulated_bilinear"
        return self.config.cheap_render_buffer

    def gate_baselines(self, dataset: UrukClipDataset) -> dict[str, dict[str, float]]:
        """The frame the model refines (`cheap_render_frames`) scored as the frame itself."""
        return {self.gate_baseline: buffer_baseline(dataset, self.config)}

    def selection_score(self, metrics: dict, weights: LossWeights) -> float:
        """PSNR, plus `MATERIAL_SELECTION_WEIGHT` x material mIoU in stages that train the material head (the
        score that compares stages and calibration runs; within a stage the material head is picked on its own,
        see `separate_heads`)."""
        score = float(metrics["psnr"])
        if weights is not None and weights.material:
            score += MATERIAL_SELECTION_WEIGHT * float(metrics.get("material_miou", 0.0))
        return score

    def separate_heads(self, model, weights: LossWeights) -> dict[str, tuple[str, ...]]:
        """The material head, picked at its best validation mIoU, in stages that train it: it reads the input
        buffers, not the trunk (`UrukMaterialHead`), so its weights and the frame's are independent, and a stage
        keeps the frame of its best PSNR with the material head of its best mIoU instead of trading one against
        the other in a single checkpoint."""
        if weights is None or not weights.material or getattr(model, "material_head", None) is None:
            return {}
        return {"material_head": ("material_miou", "material_accuracy", "material_balanced_accuracy")}

    def outputs_finite(self, outputs: list) -> bool:
        tensors = [output.frame for output in outputs]
        tensors += [output.material_logits for output in outputs if output.material_logits is not None]
        return all(bool(torch.isfinite(tensor).all()) for tensor in tensors)

    def outputs_difference(self, first: list, second: list) -> float:
        return max(float((a.frame - b.frame).abs().max()) for a, b in zip(first, second))

    # Publishing ---------------------------------------------------------------------------------------------
    def calibration_inputs(self, model, dataset, max_frames: int = 64) -> list[np.ndarray]:
        """The `pixel_values` the model sees on the first clips of `dataset`, history included (its own warped
        previous output, through the recurrent unroll): realistic activations for static int8 calibration."""
        captured = []
        hook = model.register_forward_pre_hook(lambda module, args: captured.append(args[0].numpy().copy()))
        try:
            with torch.inference_mode():
                for index in range(len(dataset)):
                    self.forward(model, self.collate([dataset[index]]))
                    if len(captured) >= max_frames:
                        break
        finally:
            hook.remove()
        return captured[:max_frames]

    def onnx_model(self, folder: Path, file_name: str):
        """The ONNX file `file_name` of `folder` as a model `forward` and `evaluate` accept."""
        from ...models.gbuffer_renderer.modeling_ort import UrukORTRenderer

        return UrukORTRenderer.from_pretrained(folder, file_name=file_name)

    def write_examples(self, model, dataset, path: Path, items: int = 4) -> str:
        """A grid of the last frame of the first `items` clips, one row each: cheap render, (for a low-resolution
        cheap render: its demodulated bilinear upscale,) prediction, ground truth (and predicted and labelled
        materials for models with a material head); returns the column names."""
        from PIL import Image

        from ...file_utils import atomic_path

        cheap = self.config.cheap_render_buffer
        upscaled = self.config.cheap_render_divisor > 1
        columns = [cheap, *([self.gate_baseline] if upscaled else []), "prediction", "ground truth"]
        rows = []
        with torch.inference_mode():
            for index in range(min(items, len(dataset))):
                clip = dataset[index]
                batch = self.collate([clip])
                output = self.forward(model, batch)[-1]
                last = {name: clip[name][-1:] for name in (cheap, self.config.albedo_buffer)}
                images = [
                    torch.from_numpy(clip[cheap][-1].astype(np.float32)).permute(2, 0, 1),
                    *([cheap_render_frames(last, self.config)[0]] if upscaled else []),
                    output.frame[0],
                    batch["frame_targets"][0, -1],
                ]
                tiles = [(tonemap(im).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8) for im in images]
                if output.material_logits is not None:
                    labels = batch["material_labels"][0, -1].numpy()
                    predicted = output.material_logits[0].argmax(0).numpy()
                    for classes in (predicted, labels):
                        tile = MATERIAL_PALETTE[np.clip(classes, 0, None) % len(MATERIAL_PALETTE)].astype(np.uint8)
                        tile[labels < 0] = 0
                        tiles.append(tile)
                rows.append(np.concatenate(tiles, axis=1))
        if len(columns) < rows[0].shape[1] // rows[0].shape[0]:
            columns += ["predicted materials", "labelled materials"]
        image = Image.fromarray(np.concatenate(rows, axis=0)).resize(
            (rows[0].shape[1] * 2, rows[0].shape[0] * len(rows) * 2), Image.NEAREST
        )
        with atomic_path(path) as temporary:
            image.save(temporary, format="PNG")
        return ", ".join(columns)

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        """PSNR, SSIM, MS-SSIM and FLIP as image-to-image results, material mIoU as segmentation."""
        results = [("image-to-image", key, float(metrics[key])) for key in ("psnr", "ssim", "ms_ssim", "flip")]
        if "material_miou" in metrics:
            results.append(("image-segmentation", "mean_iou", float(metrics["material_miou"])))
        return results

    def card_baselines(self, names: list[str]) -> list[str]:
        """The upscaling baselines only for models of a low-resolution cheap render (WS6), the material baselines
        only for models with a material head."""
        from ...data.rendering.baselines import MATERIAL_BASELINES, UPSCALING_BASELINES

        hidden = set() if self.config.cheap_render_divisor > 1 else set(UPSCALING_BASELINES)
        if not self.config.use_material_head:
            hidden |= set(MATERIAL_BASELINES)
        return [name for name in names if name not in hidden]

    def card_fields(self) -> dict:
        """What the model card template shows of this task: the input layout and the material classes."""
        from ...schema import BUFFER_SPECS

        config = self.config
        return {
            "num_channels": config.num_channels,
            "layout": [
                {
                    "name": item["name"],
                    "channels": item["channels"],
                    "transform": BUFFER_SPECS[item["name"]].transform,
                    "description": BUFFER_SPECS[item["name"]].description,
                }
                for item in config.input_buffers
            ],
            "has_materials": config.use_material_head,
            "num_labels": config.num_labels,
            "labels": ", ".join(config.id2label[index] for index in sorted(config.id2label)),
        }
