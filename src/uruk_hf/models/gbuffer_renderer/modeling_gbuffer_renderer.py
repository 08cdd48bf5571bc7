"""The renderer body shared by the G-buffer families: padding, trunk, heads, loss and legacy checkpoints.

A family's modeling file subclasses `UrukRendererPreTrainedModel` and names its config class; the body is defined
once here so V2-Ultra, V2-Optimized and WS5 cannot drift apart (and V2-Optimized can load V2-Ultra's state dict).
"""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ...modeling_utils import UrukPreTrainedModelMixin, has_non_finite
from ...modules.screen_space_gi import screen_space_bounce
from ...modules.unet import UrukUNet
from ...modules.upscaling import upscaled_illumination
from ...schema import BUFFER_SPECS, MATERIAL_ID_SLOTS
from ...tonemap import tonemap
from .configuration_gbuffer_renderer import SCREEN_SPACE_BOUNCE_BUFFERS, UrukRendererConfig
from .heads import UrukFrameHead, UrukMaterialHead
from .processing_gbuffer import decode_buffer

__all__ = [
    "UrukRendererOutput",
    "UrukRendererPreTrainedModel",
    "check_pixel_values_finite",
    "check_pixel_values_shape",
    "model_fed_inputs",
]

_MODEL_FED_INPUTS = ContextVar("uruk_model_fed_inputs", default=False)


@contextlib.contextmanager
def model_fed_inputs() -> Iterator[None]:
    """Inside the block, renderers skip the NaN/Inf scan of `pixel_values`: for the recurrent unroll, whose inputs
    are the processor's (already checked, buffer by buffer) plus the model's own previous frame, whose divergence
    the training loss and the Smoke checks report as such."""
    token = _MODEL_FED_INPUTS.set(True)
    try:
        yield
    finally:
        _MODEL_FED_INPUTS.reset(token)


def check_pixel_values_shape(shape: tuple, config: UrukRendererConfig, owner: str) -> None:
    """Raises `ValueError` unless `shape` is `(batch >= 1, config.num_channels, height >= 1, width >= 1)`; the
    message lists the expected layout."""
    if len(shape) != 4:
        raise ValueError(f"pixel_values must be (batch, channels, height, width), got shape {shape}.")
    if shape[1] != config.num_channels:
        layout = ", ".join(f"{e['name']} {e['channels']}" for e in config.input_buffers)
        raise ValueError(f"{owner} expects {config.num_channels} input channels ({layout}), got {shape[1]}.")
    if 0 in (shape[0], shape[2], shape[3]):
        raise ValueError(f"pixel_values has shape {shape}: {owner} needs at least one frame of at least 1x1 pixels.")


def check_pixel_values_finite(pixel_values: torch.Tensor, config: UrukRendererConfig) -> None:
    """Raises `ValueError` naming the buffers (and channels) of `pixel_values` that hold NaN or Inf: a model fed
    them returns a frame of NaN, and a NaN surface id is no index at all."""
    if not has_non_finite(pixel_values):
        return
    bad = ~torch.isfinite(pixel_values)
    per_channel = bad.sum(dim=(0, 2, 3)).tolist()
    names = [(e["name"], c) for e in config.input_buffers for c in range(int(e["channels"]))]
    described = [
        f"{count} in channel {index} ({names[index][0]!r} component {names[index][1]})"
        for index, count in enumerate(per_channel)
        if count
    ]
    first = bad.nonzero()[0].tolist()
    raise ValueError(
        f"pixel_values holds NaN/Inf values: {'; '.join(described)}; first at batch, channel, y, x = {first}. "
        "UrukGBufferProcessor refuses such buffers by name; fix the buffer that produced them."
    )


@dataclass
class UrukRendererOutput(ModelOutput):
    """Output of every G-buffer renderer.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `frame_targets` is given):
            L1 between tone-mapped frames, plus `material_loss_weight` times the material cross-entropy when
            `material_labels` is given.
        frame (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
            The rendered frame, linear HDR radiance (>= 0).
        material_logits (`torch.FloatTensor` of shape `(batch_size, num_labels, height, width)`, *optional*):
            Per-pixel semantic material logits over `config.id2label` (models with a material head).
    """

    loss: torch.FloatTensor | None = None
    frame: torch.FloatTensor | None = None
    material_logits: torch.FloatTensor | None = None


class UrukRendererPreTrainedModel(UrukPreTrainedModelMixin, PreTrainedModel):
    """Base class of the G-buffer renderers: a residual U-Net trunk (`uruk_hf.modules.unet`), a frame head that
    filters the cheap render (or, for a low-resolution cheap render, its albedo-demodulated upscale) and adds
    albedo-demodulated shading (`uruk_hf.models.gbuffer_renderer.heads`) and, for V2 models, a per-surface material
    head. Any height and width work: the input is padded to the trunk's stride
    and the outputs are cropped back.
    """

    config_class = UrukRendererConfig
    base_model_prefix = "renderer"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    def __init__(self, config: UrukRendererConfig):
        super().__init__(config)
        # A low-resolution cheap render also reaches the trunk as its upsampled illumination, and the screen-space
        # bounce estimate as its own 3 channels.
        extra_channels = (3 if config.cheap_render_divisor > 1 else 0) + (3 if config.screen_space_bounces else 0)
        self.unet = UrukUNet(
            config.num_channels + extra_channels,
            config.hidden_sizes,
            config.depths,
            global_context=config.global_context,
        )
        self.frame_head = UrukFrameHead(
            config.hidden_sizes[0],
            config.frame_kernel_size,
            config.frame_kernel_dilations,
            config.temporal_blend,
            config.frame_surface_cells,
            MATERIAL_ID_SLOTS,
        )
        # The surface ids, for the material head and the frame head's surface taps (None when neither reads them).
        self._segment_slice = None
        if config.use_material_head or config.frame_surface_cells:
            self._segment_slice = config.buffer_slice(config.material_segment_buffer)
        self.material_head = None
        if config.use_material_head:
            self._material_surface_slices = config.material_head_slices()
            self.material_head = UrukMaterialHead(
                sum(part.stop - part.start for part in self._material_surface_slices),
                config.material_head_width,
                config.num_labels,
                MATERIAL_ID_SLOTS,
            )
        self._cheap_render_slice = config.buffer_slice(config.cheap_render_buffer)
        self._albedo_slice = config.buffer_slice(config.albedo_buffer)
        if config.screen_space_bounces:
            self._bounce_slices = {name: config.buffer_slice(name) for name in SCREEN_SPACE_BOUNCE_BUFFERS}
        if config.temporal_blend:
            self._history_slice = config.buffer_slice("history")
            self._history_valid_slice = config.buffer_slice("history_valid")
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)
        # Parents are visited after their children, so this overrides the generic init above.
        if hasattr(module, "_init_identity"):
            module._init_identity()

    def forward(
        self,
        pixel_values: torch.Tensor,
        frame_targets: torch.Tensor | None = None,
        material_labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> UrukRendererOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, config.num_channels, height, width)`):
                The packed, normalized input buffers, as `UrukGBufferProcessor` returns them.
            frame_targets (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`, *optional*):
                Ground-truth linear-HDR frames; when given, `loss` is computed.
            material_labels (`torch.LongTensor` of shape `(batch_size, height, width)`, *optional*):
                Semantic class per pixel, `-100` where there is no geometry (ignored).
            return_dict (`bool`, *optional*): return a `UrukRendererOutput` (default) or a tuple.

        Raises:
            TypeError: `pixel_values` is not a tensor of the model's dtype (numpy arrays, float64).
            ValueError: wrong rank or channel count, an empty batch or frame, or NaN/Inf values (the message names
                their buffers; checked in eager mode only, never in an exported graph).
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        self._check_input(pixel_values)
        height, width = pixel_values.shape[-2:]
        albedo = pixel_values[:, self._albedo_slice]
        cheap_log = pixel_values[:, self._cheap_render_slice]
        divisor = self.config.cheap_render_divisor
        modulation, trunk_input = None, pixel_values
        if divisor > 1:
            # The filter averages the upsampled illumination, remodulated by the full-resolution albedo afterwards;
            # the trunk sees that illumination too. The processor's log1p encoding is undone and redone around it.
            illumination, modulation = upscaled_illumination(decode_buffer(cheap_log, "log1p"), albedo, divisor)
            cheap_log = torch.log(1.0 + illumination)
            trunk_input = torch.cat([pixel_values, cheap_log], dim=1)
        if self.config.screen_space_bounces:
            trunk_input = torch.cat([trunk_input, self._screen_space_bounce(pixel_values, cheap_log)], dim=1)
        stride = self.unet.stride
        padded = F.pad(trunk_input, (0, (-width) % stride, 0, (-height) % stride), mode="replicate")
        # The residual stream goes to the heads as is: a ReLU here can switch every feature off for good.
        features = self.unet(padded)[..., :height, :width]
        history = history_valid = None
        if self.config.temporal_blend:
            history = decode_buffer(pixel_values[:, self._history_slice], BUFFER_SPECS["history"].transform)
            history_valid = pixel_values[:, self._history_valid_slice]
        segment_ids = None
        if self._segment_slice is not None:
            segment_ids = decode_buffer(pixel_values[:, self._segment_slice], "material_id").round()
            segment_ids = segment_ids.clamp(0, MATERIAL_ID_SLOTS - 1).long()
        frame = self.frame_head(features, cheap_log, albedo, modulation, history, history_valid, segment_ids)
        material_logits = None
        if self.material_head is not None:
            surface = [pixel_values[:, part] for part in self._material_surface_slices] or [pixel_values[:, :0]]
            material_logits = self.material_head(torch.cat(surface, dim=1), albedo, segment_ids)

        loss = None
        if frame_targets is not None:
            loss = F.l1_loss(tonemap(frame), tonemap(frame_targets))
            if material_labels is not None and material_logits is not None:
                material_loss = F.cross_entropy(material_logits, material_labels.long(), ignore_index=-100)
                loss = loss + self.config.material_loss_weight * material_loss

        if not return_dict:
            return tuple(value for value in (loss, frame, material_logits) if value is not None)
        return UrukRendererOutput(loss=loss, frame=frame, material_logits=material_logits)

    def _screen_space_bounce(self, pixel_values: torch.Tensor, cheap_log: torch.Tensor) -> torch.Tensor:
        """`log(1 + bounce)` of the screen-space estimate of `config.screen_space_bounces` bounces, from the buffers
        decoded back to physical units (the inverses of the processor's documented transforms)."""
        buffers = {
            name: decode_buffer(pixel_values[:, channels], BUFFER_SPECS[name].transform)
            for name, channels in self._bounce_slices.items()
        }
        radiance = decode_buffer(cheap_log, "log1p")
        bounce = screen_space_bounce(
            radiance,
            **buffers,
            grid=self.config.screen_space_bounce_grid,
            bounces=self.config.screen_space_bounces,
            albedo=pixel_values[:, self._albedo_slice],
        )
        return torch.log(1.0 + bounce)

    def _check_input(self, pixel_values) -> None:
        if not isinstance(pixel_values, torch.Tensor):
            kind = f"{type(pixel_values).__module__}.{type(pixel_values).__name__}"
            raise TypeError(
                f"pixel_values must be a torch.Tensor, got {kind}: pack the buffers with UrukGBufferProcessor (it "
                "returns tensors), or use torch.from_numpy."
            )
        if pixel_values.dtype != self.dtype:
            raise TypeError(
                f"pixel_values is {pixel_values.dtype}, but {type(self).__name__}'s weights are {self.dtype}: convert "
                f"the input (pixel_values.to({self.dtype})) or the model (model.to({pixel_values.dtype}))."
            )
        check_pixel_values_shape(tuple(pixel_values.shape), self.config, type(self).__name__)
        if not _MODEL_FED_INPUTS.get():
            # Eager only (`has_non_finite`): ONNX Runtime callers get the check from UrukORTRenderer.
            check_pixel_values_finite(pixel_values, self.config)
