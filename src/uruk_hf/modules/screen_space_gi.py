"""A screen-space estimate of indirect light (one bounce or more), from the G-buffer and a direct-light render.

Every visible surface lit by the direct render reflects some of that light onto every other visible surface. The
frame is split into `grid x grid` regions; each region is both a small emitter (its surfaces' world-space area,
area-weighted position, and the flux vector `sum(area * radiance * normal)` of its pixels) and a light probe at
its surfaces' mean position. Each probe gathers, from every emitting region, the irradiance that region sends it
(a disk of the region's area: `L A cos_r cos_s / (r^2 + A / pi)`, no occlusion) into an ambient cube (Half-Life
2's: six directional irradiances, one per axis direction), and each pixel reads the cube, bilinearly interpolated
between probes, with its own normal. It is the one-bounce term of radiosity on a screen-space proxy of the scene,
as screen-space global illumination in game engines gathers it, at a cost set by the grid (`grid^4` pairs per
frame, whatever the resolution); further bounces repeat the gather with the previous bounce's reflected light.

The regions cover fixed fractions of the frame and each pixel's area is its world-space footprint, so the
estimate is the same at any resolution: it is a feature for a network trained at one pixel scale and run at
another. Nothing in it is learned and no gradient flows through it.
"""

import torch
from torch.nn import functional as F

__all__ = ["MIN_VIEW_COSINE", "screen_space_bounce"]

MIN_VIEW_COSINE = 0.2
"""A pixel's world-space area is its solid angle x distance^2 / cos(view, normal); the cosine is floored here, so
that surfaces seen edge-on count as about 5 times their projected area instead of without bound."""

_EMITTER_FLOOR = 1e-3
"""Pixels whose `emissive` exceeds this are lights: their light already is the direct render, so they do not
bounce it again."""


def _region_matrix(size: int, regions: int, like: torch.Tensor) -> torch.Tensor:
    """`(regions, size)` 0/1 matrix assigning each of `size` pixels to one of `regions` equal spans."""
    pixel = torch.arange(size, device=like.device)
    region = torch.arange(regions, device=like.device)
    return (torch.div(pixel * regions, size, rounding_mode="floor")[None, :] == region[:, None]).to(like.dtype)


def _interpolation_matrix(size: int, regions: int, like: torch.Tensor) -> torch.Tensor:
    """`(size, regions)` matrix of bilinear interpolation weights from `regions` equal spans (sampled at their
    centres) to `size` pixels: `F.interpolate(..., mode="bilinear", align_corners=False)` as a matrix, which exports
    to ONNX with every shape known at any frame size."""
    pixel = torch.arange(size, device=like.device).to(like.dtype)
    source = ((pixel + 0.5) * (regions / size) - 0.5).clamp(0.0, regions - 1)
    lower = torch.floor(source)
    upper_weight = (source - lower)[:, None]
    region = torch.arange(regions, device=like.device).to(like.dtype)[None, :]
    lower = lower[:, None]
    upper = (lower + 1.0).clamp_max(regions - 1)
    return (region == lower).to(like.dtype) * (1.0 - upper_weight) + (region == upper).to(like.dtype) * upper_weight


def _region_sums(values: torch.Tensor, grid: int) -> torch.Tensor:
    """Sums of `(B, C, H, W)` `values` over `grid x grid` regions, flattened: `(B, C, grid * grid)`. Written as two
    matrix products so that it exports to ONNX at any frame size."""
    rows = _region_matrix(values.shape[-2], grid, values)
    columns = _region_matrix(values.shape[-1], grid, values)
    sums = torch.matmul(torch.matmul(rows, values), columns.transpose(0, 1))
    return sums.flatten(2)


def _pixel_solid_angle(view: torch.Tensor) -> torch.Tensor:
    """The solid angle of each pixel of a pinhole camera, `(B, 1, H, W)`, from the camera rays `r = -view`: a pixel
    `theta` off the optical axis covers `cos(theta)^3` times the solid angle of one on it, and the frame's mean of
    `|dr/dx x dr/dy|` (neighbouring rays) sets the scale. Written with slices and means only (no padding), so an
    exported graph keeps its shapes."""
    along_x = view[..., :-1, 1:] - view[..., :-1, :-1]
    along_y = view[..., 1:, :-1] - view[..., :-1, :-1]
    # The cross product written out: `torch.cross` is several times slower on CPU at frame sizes.
    (ax, ay, az), (bx, by, bz) = along_x.unbind(1), along_y.unbind(1)
    crossed = torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=1)
    measured = (crossed * crossed).sum(dim=1, keepdim=True).sqrt()
    axis = F.normalize(-view.mean(dim=(2, 3), keepdim=True), dim=1)
    cubed = torch.relu((-view * axis).sum(dim=1, keepdim=True)) ** 3
    # A ratio of sums over the same pixels (the means' ratio), which is 0 rather than NaN for a one-pixel frame.
    scale = measured.sum(dim=(2, 3), keepdim=True) / cubed[..., :-1, :-1].sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return scale * cubed


@torch.no_grad()
def screen_space_bounce(
    radiance: torch.Tensor,
    position: torch.Tensor,
    normal: torch.Tensor,
    depth: torch.Tensor,
    view: torch.Tensor,
    mask: torch.Tensor,
    emissive: torch.Tensor,
    grid: int = 16,
    bounces: int = 1,
    albedo: torch.Tensor | None = None,
) -> torch.Tensor:
    """The visible surfaces' light after `bounces` bounces, as irradiance / pi (the radiance a white diffuse surface
    would reflect): `(B, 3, H, W)`, 0 on background.

    Each bounce after the first sends on the previous one's light as a diffuse surface of `albedo` would reflect it
    (`albedo x bounce`), and the result is their sum. The surfaces' areas, regions and probes are computed once for
    all bounces.

    Args:
        radiance: `(B, 3, H, W)` linear radiance the surfaces send out (the direct render).
        position: `(B, 3, H, W)` world-space positions.
        normal: `(B, 3, H, W)` world-space unit normals.
        depth: `(B, 1, H, W)` distance from the camera.
        view: `(B, 3, H, W)` unit vectors from the surface to the camera, defined on every pixel (the camera ray).
        mask: `(B, 1, H, W)` 1 on geometry, 0 on background.
        emissive: `(B, 1, H, W)` emitted luminance; emitting pixels do not send light again.
        grid: regions (and probes) per side.
        bounces: how many bounces to sum (at least 1).
        albedo: `(B, 3, H, W)` diffuse albedo, needed when `bounces > 1`.

    Raises:
        ValueError: `bounces` below 1, or above 1 without `albedo`.
    """
    if isinstance(bounces, bool) or not isinstance(bounces, int) or bounces < 1:
        raise ValueError(f"bounces must be an integer >= 1, got {bounces!r}.")
    if bounces > 1 and albedo is None:
        raise ValueError(f"bounces={bounces} sends each bounce's light on through the surfaces' albedo; pass albedo.")
    facing = (normal * view).sum(dim=1, keepdim=True).abs().clamp_min(MIN_VIEW_COSINE)
    geometry = (mask > 0.5).to(radiance.dtype)
    senders = geometry * (emissive <= _EMITTER_FLOOR).to(radiance.dtype)
    area = _pixel_solid_angle(view) * depth * depth / facing * senders
    # Per region: area, area-weighted position and the probes' plain mean position, the same for every bounce.
    sums = _region_sums(torch.cat([area, area * position, geometry, geometry * position], dim=1), grid)
    region_area = sums[:, :1]
    sender_position = sums[:, 1:4] / region_area.clamp_min(1e-12)
    probe_position = sums[:, 5:8] / sums[:, 4:5].clamp_min(1.0)
    senders_xyz, probes_xyz = sender_position.transpose(1, 2), probe_position.transpose(1, 2)  # (B, S, 3), (B, P, 3)
    offset = senders_xyz[:, None, :, :] - probes_xyz[:, :, None, :]  # (B, P, S, 3)
    distance_squared = (offset * offset).sum(dim=-1)  # (B, P, S)
    falloff = 1.0 / (distance_squared + region_area / torch.pi).clamp_min(1e-6)
    weight = falloff / distance_squared.clamp_min(1e-12)
    rows = _interpolation_matrix(radiance.shape[-2], grid, radiance)
    columns = _interpolation_matrix(radiance.shape[-1], grid, radiance)
    # Each pixel reads the cube's +a or -a face of each axis a, weighted by its normal's n_a^2.
    squared = normal * normal
    facing_positive = (normal > 0).to(normal.dtype)
    face_weights = torch.stack([squared * facing_positive, squared * (1.0 - facing_positive)], dim=2)
    face_weights = face_weights[:, :, :, None]  # (B, axis, sign, 1, H, W)

    total, sent_radiance = None, radiance
    for index in range(bounces):
        # The flux vectors (colour x axis) of each region: sum(area * radiance * normal) over its pixels.
        flux = (area * sent_radiance)[:, :, None] * normal[:, None]  # (B, 3 colours, 3 axes, H, W)
        sender_flux = _region_sums(flux.flatten(1, 2), grid).unflatten(1, (3, 3))  # (B, colour, axis, S)
        # Every probe j against every region s, without a tensor per axis and pair where a matrix product does: the
        # offset d = p_s - q_j, the flux term relu(-F_c . d) = L A cos_s |d|, and the ambient cube's
        # sum_s relu(+-d_a) w = (sum_s |d_a| w +- sum_s d_a w) / 2, with w = relu(-F_c . d) / (|d|^2 (r^2 + A / pi)).
        flux_at_sender = (sender_flux * sender_position[:, None]).sum(dim=2)  # (B, colour, S): F_c . p_s
        flux_at_probe = torch.matmul(probes_xyz, sender_flux.transpose(1, 2).flatten(2))  # (B, P, colour * S)
        sent = torch.relu(flux_at_probe - flux_at_sender.flatten(1)[:, None, :])  # relu(-F_c . d)
        weighted = sent.unflatten(2, (3, -1)) * weight[:, :, None, :]  # (B, P, colour, S)
        signed = torch.matmul(weighted, offset)  # (B, P, colour, axis)
        unsigned = torch.matmul(weighted, offset.abs())
        # The ambient cube's six directions +x, -x, +y, -y, +z, -z, per colour and probe.
        cube = torch.stack([unsigned + signed, unsigned - signed], dim=-1).permute(0, 3, 4, 2, 1) / (2.0 * torch.pi)
        cube = cube.reshape(cube.shape[0], 18, grid, grid)
        cube = torch.matmul(torch.matmul(rows, cube), columns.transpose(0, 1))
        cube = cube.reshape(cube.shape[0], 3, 2, 3, *cube.shape[-2:])  # (B, axis, sign, colour, H, W)
        bounce = (face_weights * cube).sum(dim=(1, 2)) * geometry
        total = bounce if total is None else total + bounce
        if index + 1 < bounces:
            sent_radiance = albedo * bounce
    return total
