"""Output heads that turn trunk features into a linear-HDR frame and per-pixel material logits."""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UrukFrameHead", "UrukMaterialHead"]

# softplus(_INITIAL_SHADING_LOGIT) ~= 0.05: the demodulated term starts small, so an untrained model returns
# (almost exactly) its cheap input render instead of an arbitrary image.
_INITIAL_SHADING_LOGIT = math.log(math.expm1(0.05))
# The gain on the cheap render is bounded smoothly to [e^-4, e^4]: a hard clamp would stop gradients for good.
_MAX_LOG_GAIN = 4.0


class UrukFrameHead(nn.Module):
    """Predicts the frame as a per-pixel gain on the cheap render plus albedo-modulated shading.

    `frame = cheap * exp(4 tanh(g / 4)) + albedo * softplus(s)`, with `cheap` the linear cheap render (`direct` or
    `path_1spp`, decoded from the processor's `log1p` encoding) and `g`, `s` predicted per pixel and channel. The
    gain keeps what the cheap render already has right (direct light, emitters, the sky) and corrects it; the
    second term is the demodulation real-time denoisers use: the network predicts smooth illumination and the
    albedo buffer supplies texture detail, which a network would otherwise have to copy through its trunk. Both
    terms are smooth with non-zero gradients everywhere (no clamps), so no pixel can get stuck during training.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.projection = nn.Conv2d(hidden_size, 6, kernel_size=3, padding=1)

    def _init_identity(self) -> None:
        """Starts at `frame ~= cheap render`: unit gain, small shading."""
        nn.init.zeros_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        nn.init.constant_(self.projection.bias[3:], _INITIAL_SHADING_LOGIT)

    def forward(self, features: torch.Tensor, cheap_log: torch.Tensor, albedo: torch.Tensor) -> torch.Tensor:
        gain, shading = self.projection(features).chunk(2, dim=1)
        log_gain = _MAX_LOG_GAIN * torch.tanh(gain / _MAX_LOG_GAIN)
        return torch.expm1(cheap_log) * torch.exp(log_gain) + albedo * F.softplus(shading)


class UrukMaterialHead(nn.Module):
    """Per-pixel semantic material logits: a 3x3 convolution for local texture context, then a 1x1 classifier."""

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.context = nn.Conv2d(hidden_size, hidden_size, kernel_size=3, padding=1)
        self.activation = nn.ReLU()
        self.classifier = nn.Conv2d(hidden_size, num_labels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.activation(self.context(features)))
