"""Backward warping of a previous frame by motion vectors (DESIGN §2 `motion`), shared by the history unroll and
the temporal-stability metric."""

import torch
from torch.nn import functional as F

__all__ = ["warp_previous_frame"]


def warp_previous_frame(previous: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Samples `previous` `(B, C, H, W)` at each pixel centre plus its motion `(B, 2, H, W)` (pixels, towards where
    the surface point was in the previous frame), bilinearly, with zeros outside the frame."""
    _, _, height, width = previous.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=motion.device, dtype=motion.dtype) + 0.5,
        torch.arange(width, device=motion.device, dtype=motion.dtype) + 0.5,
        indexing="ij",
    )
    grid = torch.stack([(xs + motion[:, 0]) / width * 2.0 - 1.0, (ys + motion[:, 1]) / height * 2.0 - 1.0], dim=-1)
    return F.grid_sample(previous, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
