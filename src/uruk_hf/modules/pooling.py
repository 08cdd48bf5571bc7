"""Pooling per segment: statistics over all pixels that share an integer id (a surface of the `material_id` buffer).

Written with `scatter_add` and `gather` only, so it runs in ONNX (ScatterElements with `reduction="add"`, opset 16
and later, and GatherElements) at any resolution, and its memory grows with pixels, not with pixels x segments.
"""

import torch

__all__ = ["gather_segments", "segment_means"]


def segment_means(
    values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean of `values` over each segment of each image, and each segment's pixel count.

    Args:
        values (`torch.Tensor` of shape `(batch_size, channels, height, width)`): what to average.
        segment_ids (`torch.LongTensor` of shape `(batch_size, 1, height, width)`): the segment of each pixel, in
            `0 .. num_segments - 1`; segments never span two images of the batch.
        num_segments (`int`): the number of possible ids.

    Returns:
        `(means, sizes)`: `means` of shape `(batch_size, channels, num_segments)` (0 for a segment without pixels)
        and `sizes` of shape `(batch_size, 1, num_segments)`, the pixel count of each segment.
    """
    batch_size, channels = values.shape[:2]
    flat_ids = segment_ids.reshape(batch_size, 1, -1)
    flat_values = values.reshape(batch_size, channels, -1)
    # The pixel count rides along as one more channel: one scatter for sums and counts.
    summed = torch.cat([flat_values, torch.ones_like(flat_values[:, :1])], dim=1)
    totals = summed.new_zeros(batch_size, channels + 1, num_segments)
    totals = totals.scatter_add(2, flat_ids.expand(-1, channels + 1, -1), summed)
    sizes = totals[:, channels:]
    return totals[:, :channels] / sizes.clamp_min(1.0), sizes


def gather_segments(per_segment: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
    """Paints each pixel with its segment's value: `(batch_size, channels, num_segments)` values and
    `(batch_size, 1, height, width)` ids give `(batch_size, channels, height, width)`."""
    batch_size, channels = per_segment.shape[:2]
    flat_ids = segment_ids.reshape(batch_size, 1, -1).expand(-1, channels, -1)
    return torch.gather(per_segment, 2, flat_ids).reshape(batch_size, channels, *segment_ids.shape[2:])
