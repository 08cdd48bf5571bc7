"""Output heads that turn trunk features into a linear-HDR frame and per-pixel material logits."""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UrukFrameHead", "UrukMaterialHead"]

# The residual path works in the processor's log1p radiance encoding; clamping there keeps expm1 finite in fp16/fp32.
_MAX_LOG_RADIANCE = 20.0
# softplus(_INITIAL_SHADING_LOGIT) ~= 0.05: the demodulated term starts small, so an untrained model returns
# (almost exactly) its cheap input render instead of an arbitrary image.
_INITIAL_SHADING_LOGIT = math.log(math.expm1(0.05))


class UrukFrameHead(nn.Module):
    """Predicts the frame as a residual over the cheap render plus albedo-modulated shading.

    `frame = expm1(clamp(cheap_log + delta, 0, 20)) + albedo * softplus(shading)`, where `cheap_log` is the cheap
    render (`direct` or `path_1spp`) as the processor encodes it (`log1p`) and `delta`, `shading` are predicted.
    The residual term keeps what the cheap render already has right (direct light, emitters, the sky); the second
    term is the demodulation real-time denoisers use: the network predicts smooth illumination and the albedo
    buffer supplies texture detail, which a network would otherwise have to learn to copy through its trunk.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.projection = nn.Conv2d(hidden_size, 6, kernel_size=3, padding=1)

    def _init_identity(self) -> None:
        """Starts at `frame ~= cheap render`: zero residual, small shading."""
        nn.init.zeros_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        nn.init.constant_(self.projection.bias[3:], _INITIAL_SHADING_LOGIT)

    def forward(self, features: torch.Tensor, cheap_log: torch.Tensor, albedo: torch.Tensor) -> torch.Tensor:
        delta, shading = self.projection(features).chunk(2, dim=1)
        residual = torch.expm1((cheap_log + delta).clamp(0.0, _MAX_LOG_RADIANCE))
        return residual + albedo * F.softplus(shading)


class UrukMaterialHead(nn.Module):
    """Per-pixel semantic material logits: a 3x3 convolution for local texture context, then a 1x1 classifier."""

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.context = nn.Conv2d(hidden_size, hidden_size, kernel_size=3, padding=1)
        self.activation = nn.ReLU()
        self.classifier = nn.Conv2d(hidden_size, num_labels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.activation(self.context(features)))
