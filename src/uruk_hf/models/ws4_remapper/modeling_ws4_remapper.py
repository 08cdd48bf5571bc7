"""The WS4 world remapper: a rendered frame and its G-buffer under one time-of-day preset to the same view under
another, conditioned on the two presets and the target's sun.

A residual U-Net (`uruk_hf.modules.unet`) whose every block is modulated by the condition (FiLM, zero-initialized)
reads the G-buffer, the source frame, the target preset's key-light visibility, the unshadowed irradiance of its
lights and the key light's specular reflection, and what the camera sees directly of the emitters and the sky under
both presets (an engine computes these in its deferred lighting, emissive and sky passes). Its head predicts the
target frame as

    softplus(g) * relu(source - source_emission)
    + albedo * (softplus(k) * shadow * key_irradiance + softplus(v) * (irradiance - key_irradiance)) / pi
    + albedo * softplus(s) + softplus(r) * shadow * key_specular + softplus(e) + target_emission

a colour gain on the light the source's surfaces reflect (what a colour transform does, and all it can do); the
target's key light through its shadow map and its other lights through a predicted visibility, as a diffuse surface
reflects them (`albedo * irradiance / pi`); free illumination (the bounces); the key light's glossy reflection
through the shadow map (the sun's glare on a surface seen against a low sun); a learned remainder (edges, glossy
reflections of the other lights); and the target's emitters and sky, added as they are: a model cannot guess how
bright a lamp is, and it need not. It starts as the identity on reflected light (gain 1, the learned terms
small).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ...modeling_utils import UrukPreTrainedModelMixin, has_non_finite
from ...modules.activations import softplus
from ...modules.unet import UrukUNet
from ...tonemap import tonemap
from ..gbuffer_renderer.processing_gbuffer import decode_buffer
from .configuration_ws4_remapper import UrukWS4RemapperConfig

__all__ = ["UrukWS4Remapper", "UrukWS4RemapperOutput"]

_IDENTITY_GAIN_LOGIT = math.log(math.expm1(1.0))  # softplus(x) = 1
_SMALL_TERM_LOGIT = math.log(math.expm1(0.01))


@dataclass
class UrukWS4RemapperOutput(ModelOutput):
    """Output of [`UrukWS4Remapper`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `frame_targets` is given):
            L1 between tone-mapped frames.
        frame (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`):
            The view under the target preset, linear HDR radiance (>= 0).
    """

    loss: torch.FloatTensor | None = None
    frame: torch.FloatTensor | None = None


class UrukWS4Remapper(UrukPreTrainedModelMixin, PreTrainedModel):
    """The WS4 world remapper (first run, v2 rerun or distilled student, by its config): `pixel_values`
    (`config.num_channels` channels, packed by `UrukGBufferProcessor`) and `condition` (`config.condition_size`)
    to a `UrukWS4RemapperOutput` with `frame`. Any height and width work.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukWS4Remapper, UrukWS4RemapperConfig

    >>> config = UrukWS4RemapperConfig.from_preset("tiny")
    >>> model = UrukWS4Remapper(config).eval()
    >>> condition = torch.zeros(1, config.condition_size)
    >>> model(torch.rand(1, config.num_channels, 30, 40), condition).frame.shape
    torch.Size([1, 3, 30, 40])
    ```
    """

    config_class = UrukWS4RemapperConfig
    base_model_prefix = "remapper"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True

    def __init__(self, config: UrukWS4RemapperConfig):
        super().__init__(config)
        self.unet = UrukUNet(config.num_channels, config.hidden_sizes, config.depths, config.condition_size)
        self.head = nn.Conv2d(config.hidden_sizes[0], 18, kernel_size=3, padding=1)
        self._albedo_slice = config.buffer_slice(config.albedo_buffer)
        self._shadow_slice = config.buffer_slice(config.shadow_buffer)
        self._radiance_slices = {
            name: config.buffer_slice(getattr(config, f"{name}_buffer"))
            for name in (
                "source",
                "source_emission",
                "target_emission",
                "irradiance",
                "key_irradiance",
                "key_specular",
            )
        }
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
        if module is getattr(self, "head", None):
            nn.init.zeros_(module.weight)
            with torch.no_grad():
                module.bias[:3] = _IDENTITY_GAIN_LOGIT
                module.bias[3:] = _SMALL_TERM_LOGIT
        if hasattr(module, "_init_identity"):
            module._init_identity()

    def forward(
        self,
        pixel_values: torch.Tensor,
        condition: torch.Tensor,
        frame_targets: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> UrukWS4RemapperOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, config.num_channels, height, width)`):
                The packed, normalized input buffers (the source frame among them).
            condition (`torch.FloatTensor` of shape `(batch_size, config.condition_size)`):
                Source and target presets (one-hots over `config.lighting_presets`) and the target's key light.
            frame_targets (`torch.FloatTensor` of shape `(batch_size, 3, height, width)`, *optional*):
                The view under the target preset; when given, `loss` is computed.
            return_dict (`bool`, *optional*): return a `UrukWS4RemapperOutput` (default) or a tuple.

        Raises:
            ValueError: wrong shapes, an empty batch or frame, or NaN/Inf in either input (eager mode).
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        self._check_inputs(pixel_values, condition)
        height, width = pixel_values.shape[-2:]
        stride = self.unet.stride
        padded = F.pad(pixel_values, (0, (-width) % stride, 0, (-height) % stride), mode="replicate")
        features = self.unet(padded, condition)[..., :height, :width]
        gain, direct, visibility, shading, emitted, glossy = softplus(self.head(features)).chunk(6, dim=1)
        # The linear buffers, the processor's log1p undone.
        linear = {name: decode_buffer(pixel_values[:, part], "log1p") for name, part in self._radiance_slices.items()}
        reflected = F.relu(linear["source"] - linear["source_emission"])
        key_irradiance = linear["key_irradiance"]
        # The key light through its shadow map; the other lights (sky, other lamps) through a predicted visibility.
        shadow = pixel_values[:, self._shadow_slice]
        fill_light = F.relu(linear["irradiance"] - key_irradiance)
        illumination = (direct * shadow * key_irradiance + visibility * fill_light) / math.pi + shading
        frame = (
            gain * reflected
            + pixel_values[:, self._albedo_slice] * illumination
            + glossy * shadow * linear["key_specular"]
            + emitted
            + linear["target_emission"]
        )
        loss = None
        if frame_targets is not None:
            loss = F.l1_loss(tonemap(frame), tonemap(frame_targets))
        if not return_dict:
            return tuple(value for value in (loss, frame) if value is not None)
        return UrukWS4RemapperOutput(loss=loss, frame=frame)

    def _check_inputs(self, pixel_values, condition) -> None:
        config = self.config
        for name, value in (("pixel_values", pixel_values), ("condition", condition)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
        if pixel_values.ndim != 4 or pixel_values.shape[1] != config.num_channels:
            layout = ", ".join(f"{e['name']} {e['channels']}" for e in config.input_buffers)
            raise ValueError(
                f"pixel_values must be (batch, {config.num_channels}, height, width) ({layout}), got "
                f"{tuple(pixel_values.shape)}."
            )
        if 0 in pixel_values.shape:
            raise ValueError(f"pixel_values has shape {tuple(pixel_values.shape)}: it needs at least one 1x1 frame.")
        if condition.shape != (pixel_values.shape[0], config.condition_size):
            raise ValueError(
                f"condition must be (batch, {config.condition_size}) (source and target one-hots over "
                f"{config.lighting_presets}, the target's sun direction and irradiance), got {tuple(condition.shape)}."
            )
        for name, value in (("pixel_values", pixel_values), ("condition", condition)):
            if has_non_finite(value):
                raise ValueError(f"{name} holds NaN/Inf values.")
