"""Output heads that turn trunk features into a linear-HDR frame and per-pixel material logits."""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UrukFrameHead", "UrukMaterialHead"]

# softplus(_INITIAL_SHADING_LOGIT) ~= 0.05: the demodulated term starts small.
_INITIAL_SHADING_LOGIT = math.log(math.expm1(0.05))
# A centre logit of 8 against 24 zeros puts 99.2% of the filter weight on the pixel itself: an untrained model
# returns (almost exactly) its cheap input render instead of an arbitrary image.
_INITIAL_CENTRE_LOGIT = 8.0


class UrukFrameHead(nn.Module):
    """Predicts the frame as a per-pixel filtered cheap render plus albedo-modulated shading.

    `frame = sum_k softmax(w)_k * cheap(x + k) + albedo * softplus(s)`: the network predicts, per pixel, the weights
    `w` of a `kernel_size x kernel_size` filter applied to the linear cheap render (`direct` or `path_1spp`,
    decoded from the processor's `log1p` encoding) and a shading `s`. The filter is kernel-predicting denoising
    (KPCN, as in production denoisers): the output is a convex combination of the cheap render's own samples, so
    it keeps emitters, the sky and direct light exactly where they are right and averages away their noise where
    they are not. The second term is demodulation: the network predicts smooth illumination that the albedo buffer
    modulates with texture detail (indirect light). Softmax and softplus have non-zero gradients everywhere, so
    no pixel can get stuck during training.

    Args:
        hidden_size (`int`): channels of the trunk features.
        kernel_size (`int`): width of the predicted filter (odd).
    """

    def __init__(self, hidden_size: int, kernel_size: int = 5):
        super().__init__()
        self.kernel_size = kernel_size
        self.projection = nn.Conv2d(hidden_size, kernel_size * kernel_size + 3, kernel_size=3, padding=1)

    def _init_identity(self) -> None:
        """Starts at `frame ~= cheap render`: a filter concentrated on the centre pixel, small shading."""
        taps = self.kernel_size * self.kernel_size
        nn.init.zeros_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        nn.init.constant_(self.projection.bias[taps // 2 : taps // 2 + 1], _INITIAL_CENTRE_LOGIT)
        nn.init.constant_(self.projection.bias[taps:], _INITIAL_SHADING_LOGIT)

    def forward(self, features: torch.Tensor, cheap_log: torch.Tensor, albedo: torch.Tensor) -> torch.Tensor:
        taps = self.kernel_size * self.kernel_size
        projected = self.projection(features)
        weights = torch.softmax(projected[:, :taps], dim=1)
        height, width = cheap_log.shape[-2:]
        radius = self.kernel_size // 2
        # exp(x) - 1 rather than expm1: ONNX has no expm1, and x = log1p(radiance) >= 0 keeps it accurate.
        cheap = torch.exp(F.pad(cheap_log, (radius, radius, radius, radius), mode="replicate")) - 1.0
        # One shifted view per tap, accumulated: 3x faster on CPU than materializing all taps with `unfold`, and
        # plain slices and multiply-adds in ONNX.
        filtered = torch.zeros_like(cheap_log)
        for tap in range(taps):
            dy, dx = divmod(tap, self.kernel_size)
            filtered = filtered + cheap[:, :, dy : dy + height, dx : dx + width] * weights[:, tap : tap + 1]
        return filtered + albedo * F.softplus(projected[:, taps:])


class UrukMaterialHead(nn.Module):
    """Per-pixel semantic material logits: a 3x3 convolution for local texture context, then a 1x1 classifier."""

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.context = nn.Conv2d(hidden_size, hidden_size, kernel_size=3, padding=1)
        self.activation = nn.ReLU()
        self.classifier = nn.Conv2d(hidden_size, num_labels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.activation(self.context(features)))
