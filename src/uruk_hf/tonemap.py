"""The one display transform of the project (DESIGN §2): Reinhard `x / (1 + x)` per channel, then the sRGB curve.

Metrics, losses, previews and cards all compare frames after this transform with `data_range=1`, so a number in
one place means the same thing everywhere.
"""

import torch

__all__ = ["inverse_tonemap", "linear_to_srgb", "srgb_to_linear", "tonemap"]

_DISPLAY_MAX = 0.999
"""`inverse_tonemap` clamps display values below this: Reinhard reaches 1 only at infinite radiance."""


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve (IEC 61966-2-1) on values in `[0, 1]`."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055)


def tonemap(radiance: torch.Tensor) -> torch.Tensor:
    """Maps linear HDR radiance (any shape, `>= 0`) to display values in `[0, 1]`: Reinhard, then sRGB."""
    radiance = radiance.clamp_min(0.0)
    return linear_to_srgb(radiance / (1.0 + radiance))


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """The inverse of `linear_to_srgb` on values in `[0, 1]`."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).pow(2.4))


def inverse_tonemap(display: torch.Tensor) -> torch.Tensor:
    """Linear HDR radiance whose `tonemap` is `display` (clamped to `[0, 0.999]`, so at most 999 times white)."""
    reinhard = srgb_to_linear(display.clamp(0.0, _DISPLAY_MAX))
    return reinhard / (1.0 - reinhard)
