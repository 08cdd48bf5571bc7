"""Output heads that turn trunk features into a linear-HDR frame and per-pixel material logits."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ...modules.activations import softplus
from ...modules.pooling import cell_segment_means, gather_segments, segment_means
from .processing_gbuffer import decode_buffer

__all__ = ["UrukFrameHead", "UrukMaterialHead"]

# softplus(_INITIAL_SHADING_LOGIT) ~= 0.05: the demodulated term starts small.
_INITIAL_SHADING_LOGIT = math.log(math.expm1(0.05))
# A centre logit of 8 against 24 zeros puts 99.2% of the filter weight on the pixel itself: an untrained model
# returns (almost exactly) its cheap input render instead of an arbitrary image.
_INITIAL_CENTRE_LOGIT = 8.0
# sigmoid(-4) ~= 0.018: the temporal blend starts with almost none of the previous frame.
_INITIAL_BLEND_LOGIT = -4.0
# Surface statistics that span decades are taken as log(x + floor) / _LOG_SCALE, which keeps them of order one.
_VARIANCE_FLOOR = 1e-4
_DIFFERENCE_FLOOR = 1e-3
_LOG_SCALE = 4.0
# Albedo below this is taken as this when a render is divided by it (demodulated) and multiplied back: dark and black
# surfaces keep their radiance instead of dividing by zero.
_DEMODULATION_FLOOR = 0.05


class UrukFrameHead(nn.Module):
    """Predicts the frame as a per-pixel filtered cheap render plus albedo-modulated shading.

    `frame = sum_k softmax(w)_k * cheap(x + k) + albedo * softplus(s)`: the network predicts, per pixel, the weights
    `w` of a `kernel_size x kernel_size` filter applied to the linear cheap render (`direct` or `path_1spp`,
    decoded from the processor's `log1p` encoding) and a shading `s`. With several `dilations` the filter's taps
    are the union of one `kernel_size x kernel_size` grid per dilation (spacing 1, 3, ... pixels), under one
    softmax, for inputs too noisy for a 5x5 neighbourhood (one path-traced sample per pixel). A grid of spacing
    `d > 1` samples the cheap render box-filtered over `d x d` pixels, so its taps tile the neighbourhood without
    gaps: a multi-scale filter `(kernel_size - 1) * max(dilations) + max(dilations)` pixels across that averages
    every sample in it, at the cost of `len(dilations)` grids (sparse taps on the raw render left a lattice of
    every third pixel in the output).

    With `surface_cells` the softmax has one more tap per cell size `c`: the mean of the albedo-demodulated cheap
    render over the pixels of the same surface (the `material_id` segment) inside the pixel's `c x c` cell, times the
    pixel's albedo (`uruk_hf.modules.pooling.cell_segment_means`). A surface's pixels in a cell share its lighting up
    to a smooth falloff, so this averages up to `c * c` samples without crossing an edge or blurring texture, as
    feature-guided denoisers (BMFR's blocks, SVGF's edge-stopping) do with the G-buffer; the network picks, per
    pixel, how much to trust it. Cells are in pixels, not fractions of the frame: the filter's trust was learned at
    one pixel scale (measured on the hand-made scenes: cells of a 16th and a 4th of the frame cost 0.33 to 0.69 dB at
    128 and 256 px, where cells of 4 and 16 pixels gained 0.17 to 0.43).

    The filter is kernel-predicting denoising (KPCN, as in production denoisers): the output is a convex
    combination of the cheap render's own samples, so it keeps emitters, the sky and direct light exactly where they
    are right and averages away their noise where they are not. The second term is demodulation: the network
    predicts smooth illumination that the albedo buffer modulates with texture detail (indirect light). Softmax and
    softplus have non-zero gradients everywhere, so no pixel can get stuck during training.

    With `temporal_blend` the head also predicts a per-pixel blend factor `a` and returns
    `frame + valid * sigmoid(a) * (history - frame)`: the model's own previous output, reprojected, is accumulated
    into the new frame where the reprojection is valid (an exponential moving average over frames, as TAA and SVGF
    accumulate samples), so a 1-spp input gathers samples over time instead of flickering from frame to frame.

    Args:
        hidden_size (`int`): channels of the trunk features.
        kernel_size (`int`): width of each grid of the predicted filter (odd).
        dilations (`list[int]`): spacing of each grid in pixels (`[1]`: a dense `kernel_size` filter).
        temporal_blend (`bool`): predict the blend with the reprojected previous output.
        surface_cells (`list[int]`): cell sizes in pixels of the per-surface taps (`[]`: none).
        num_segments (`int`): possible surface ids (with `surface_cells`).
    """

    def __init__(
        self,
        hidden_size: int,
        kernel_size: int = 5,
        dilations: list[int] | tuple[int, ...] = (1,),
        temporal_blend: bool = False,
        surface_cells: list[int] | tuple[int, ...] = (),
        num_segments: int = 0,
    ):
        super().__init__()
        self.kernel_size, self.dilations = kernel_size, tuple(int(d) for d in dilations)
        self.surface_cells, self.num_segments = tuple(int(c) for c in surface_cells), num_segments
        half = kernel_size // 2
        self.offsets = [
            (dy * dilation, dx * dilation)
            for dilation in self.dilations
            for dy in range(-half, half + 1)
            for dx in range(-half, half + 1)
        ]
        self.tap_dilations = [dilation for dilation in self.dilations for _ in range(kernel_size * kernel_size)]
        self.radius = half * max(self.dilations) + max(self.dilations) // 2
        self.temporal_blend = temporal_blend
        outputs = self.num_taps + 3 + (1 if temporal_blend else 0)
        self.projection = nn.Conv2d(hidden_size, outputs, kernel_size=3, padding=1)

    @property
    def num_taps(self) -> int:
        """Logits of the filter's softmax: the grids' taps, then one per surface cell size."""
        return len(self.offsets) + len(self.surface_cells)

    def _init_identity(self) -> None:
        """Starts at `frame ~= cheap render`: a filter concentrated on the centre pixel, small shading."""
        taps = self.num_taps
        centre = self.offsets.index((0, 0))  # the first grid's: the pixel itself
        nn.init.zeros_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        # The same share of the weight on the centre (99.2%) however many taps there are.
        centre_logit = _INITIAL_CENTRE_LOGIT + math.log((taps - 1) / 24)
        nn.init.constant_(self.projection.bias[centre : centre + 1], centre_logit)
        nn.init.constant_(self.projection.bias[taps : taps + 3], _INITIAL_SHADING_LOGIT)
        if self.temporal_blend:
            nn.init.constant_(self.projection.bias[taps + 3 :], _INITIAL_BLEND_LOGIT)

    def forward(
        self,
        features: torch.Tensor,
        cheap_log: torch.Tensor,
        albedo: torch.Tensor,
        modulation: torch.Tensor | None = None,
        history: torch.Tensor | None = None,
        history_valid: torch.Tensor | None = None,
        segment_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`cheap_log` is the `log1p` of the render the filter averages; with `modulation` it is a demodulated
        render (illumination) and the filtered result is multiplied by `modulation` (the albedo it was divided
        by), so the filter can average illumination widely without blurring texture. With `temporal_blend`,
        `history` (linear, `(B, 3, H, W)`) and `history_valid` (`(B, 1, H, W)`, 0 where it is not the same surface)
        are required; with `surface_cells`, `segment_ids` (`(B, 1, H, W)` integers in `0 .. num_segments - 1`)."""
        taps = self.num_taps
        projected = self.projection(features)
        # The softmax over taps, normalized once after the sum (one division of 3 channels instead of one per tap):
        # ONNX Runtime's Softmax over the channel axis transposes the whole tensor twice and took 42% of the
        # ray-reconstruction model's time at 256x256 (python benchmarks/bench_inference.py).
        logits = projected[:, :taps]
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        height, width = cheap_log.shape[-2:]
        radius = self.radius
        cheap = decode_buffer(F.pad(cheap_log, (radius, radius, radius, radius), mode="replicate"), "log1p")
        sources = {
            dilation: cheap
            if dilation == 1
            else F.avg_pool2d(cheap, dilation, stride=1, padding=dilation // 2, count_include_pad=False)
            for dilation in self.dilations
        }
        # One shifted view per tap, accumulated: 3x faster on CPU than materializing all taps with `unfold`, and
        # plain slices and multiply-adds in ONNX.
        # The weights are split into taps once: indexing one tap at a time makes autograd zero-fill and add a
        # gradient the size of all the weights per tap (taps^2 work in the backward pass; a training step of the
        # 50-tap ray-reconstruction model took 377 ms that way against 332 ms split, paired on 2 CPU cores).
        tap_weights = weights.split(1, dim=1)
        filtered = torch.zeros_like(cheap_log)
        grid_weights, surface_weights = tap_weights[: len(self.offsets)], tap_weights[len(self.offsets) :]
        for (dy, dx), dilation, weight in zip(self.offsets, self.tap_dilations, grid_weights, strict=True):
            window = sources[dilation][:, :, radius + dy : radius + dy + height, radius + dx : radius + dx + width]
            filtered = filtered + window * weight
        if self.surface_cells:
            # The decoded render without its padding; one already demodulated (`modulation`) is averaged as it is,
            # otherwise it is demodulated by the albedo here and remodulated after.
            linear = cheap[:, :, radius : radius + height, radius : radius + width]
            local_modulation = albedo.clamp_min(_DEMODULATION_FLOOR) if modulation is None else None
            illumination = linear if local_modulation is None else linear / local_modulation
            for cell_size, weight in zip(self.surface_cells, surface_weights, strict=True):
                means = cell_segment_means(illumination, segment_ids, cell_size, self.num_segments)
                if local_modulation is not None:
                    means = means * local_modulation
                filtered = filtered + means * weight
        filtered = filtered / weights.sum(dim=1, keepdim=True)
        if modulation is not None:
            filtered = filtered * modulation
        frame = filtered + albedo * softplus(projected[:, taps : taps + 3])
        if not self.temporal_blend:
            return frame
        blend = torch.sigmoid(projected[:, taps + 3 :]) * history_valid
        return frame + blend * (history - frame)


class UrukMaterialHead(nn.Module):
    """Material logits per surface: a classifier of statistics pooled over every pixel that shares a `material_id`.

    A surface has one material, and what names it is spread over the surface: the spread of its albedo and how
    fast it varies (a flat plastic against a woven fabric or tiles), its BSDF parameters, its orientation, depth and
    size. A per-pixel classifier sees one sample of that at a time. This head pools, per surface of the
    `material_id` buffer (`uruk_hf.modules.pooling.segment_means`): the mean and log-variance of the surface
    buffers, the mean magnitude of the albedo's horizontal and vertical differences between pixels of the same
    surface (log scale) and the log of the surface's share of the frame. Three 1x1 convolutions classify those
    statistics once per surface, and every pixel of a surface gets its surface's logits. The head reads the input
    buffers, not the trunk: material terms then never reshape the trunk and cost frame quality (measured: the
    trunk's features added nothing to the statistics, and training through them cost up to 0.5 dB).

    Args:
        surface_channels (`int`): channels of the surface buffers.
        width (`int`): channels of the classifier.
        num_labels (`int`): material classes.
        num_segments (`int`): possible `material_id` values.
    """

    def __init__(self, surface_channels: int, width: int, num_labels: int, num_segments: int):
        super().__init__()
        self.num_segments = num_segments
        statistics = 2 * surface_channels + 6 + 1
        self.classifier = nn.Sequential(
            nn.Conv2d(statistics, width, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(width, width, kernel_size=1),
            nn.ReLU(),
            nn.Conv2d(width, num_labels, kernel_size=1),
        )

    @staticmethod
    def _albedo_differences(albedo: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        """|albedo(x + 1) - albedo(x)| horizontally and vertically, 0 where the neighbour is another surface."""
        same_x = (segment_ids[..., :, 1:] == segment_ids[..., :, :-1]).to(albedo.dtype)
        same_y = (segment_ids[..., 1:, :] == segment_ids[..., :-1, :]).to(albedo.dtype)
        along_x = (albedo[..., :, 1:] - albedo[..., :, :-1]).abs() * same_x
        along_y = (albedo[..., 1:, :] - albedo[..., :-1, :]).abs() * same_y
        return torch.cat([F.pad(along_x, (0, 1)), F.pad(along_y, (0, 0, 0, 1))], dim=1)

    def forward(self, surface: torch.Tensor, albedo: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        """Logits `(B, num_labels, H, W)` from the surface buffers, the albedo and the per-pixel surface ids
        `(B, 1, H, W)` (integers in `0 .. num_segments - 1`)."""
        differences = self._albedo_differences(albedo, segment_ids)
        channels = surface.shape[1]
        pooled, pixels = segment_means(
            torch.cat([surface, surface * surface, differences], dim=1), segment_ids, self.num_segments
        )
        mean, mean_square = pooled[:, :channels], pooled[:, channels : 2 * channels]
        # Variances and differences span decades (a flat plastic has none, a tile grout a lot): log scale. The
        # size is the surface's share of the frame, not its pixel count, so it does not change with resolution.
        statistics = [
            mean,
            torch.log((mean_square - mean * mean).clamp_min(0.0) + _VARIANCE_FLOOR) / _LOG_SCALE,
            torch.log(pooled[:, 2 * channels :] + _DIFFERENCE_FLOOR) / _LOG_SCALE,
            torch.log(pixels.clamp_min(1.0) / (segment_ids.shape[-2] * segment_ids.shape[-1])) / _LOG_SCALE,
        ]
        # The classifier runs once per segment (`(B, C, segments, 1)` through 1x1 convolutions), not per pixel.
        logits = self.classifier(torch.cat(statistics, dim=1).unsqueeze(-1)).squeeze(-1)
        return gather_segments(logits, segment_ids)
