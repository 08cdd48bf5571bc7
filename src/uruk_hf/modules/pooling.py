"""Pooling per segment: statistics over all pixels that share an integer id (a surface of the `material_id` buffer).

Written with `scatter_add` and `gather` only, so it runs in ONNX (ScatterElements with `reduction="add"`, opset 16
and later, and GatherElements) at any resolution, and its memory grows with pixels, not with pixels x segments.
"""

import torch

__all__ = ["segment_mean"]


def segment_mean(
    values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replaces every pixel of `values` by the mean of its segment in the same image.

    Args:
        values (`torch.Tensor` of shape `(batch_size, channels, height, width)`): what to average.
        segment_ids (`torch.LongTensor` of shape `(batch_size, 1, height, width)`): the segment of each pixel, in
            `0 .. num_segments - 1`; segments never span two images of the batch.
        num_segments (`int`): the number of possible ids.

    Returns:
        `(means, sizes)`: `means` has the shape of `values` and holds, per pixel, the mean of `values` over the
        pixels of its segment; `sizes` (`(batch_size, 1, height, width)`) holds the segment's pixel count.
    """
    batch_size, channels = values.shape[:2]
    flat_ids = segment_ids.reshape(batch_size, 1, -1)
    flat_values = values.reshape(batch_size, channels, -1)
    # The pixel count rides along as one more channel: one scatter for sums and counts.
    summed = torch.cat([flat_values, torch.ones_like(flat_values[:, :1])], dim=1)
    totals = summed.new_zeros(batch_size, channels + 1, num_segments)
    totals = totals.scatter_add(2, flat_ids.expand(-1, channels + 1, -1), summed)
    # Every pixel's own segment holds at least that pixel, so no gathered count is 0.
    means = totals[:, :channels] / totals[:, channels:].clamp_min(1.0)
    gathered = torch.gather(torch.cat([means, totals[:, channels:]], dim=1), 2, flat_ids.expand(-1, channels + 1, -1))
    gathered = gathered.reshape(batch_size, channels + 1, *values.shape[2:])
    return gathered[:, :channels], gathered[:, channels:]
