"""World maps (WS3): a square grid of normalized height, a surface material per cell and prop presence; the
measurement of every knob (`WORLD_KNOBS`) from a map; the map as model channels and back (the props as a smooth
density, which a denoiser can predict, placed again by Poisson-disk sampling); its walkable grid (the NPC
simulator's map format) and its Mitsuba scene.
"""

from dataclasses import dataclass

import numpy as np

from ...schema import WORLD_BORDER_RADIUS, WORLD_CENTRE_RADIUS, WORLD_KNOBS, WORLD_MAP_CHANNELS, WORLD_MATERIALS

__all__ = [
    "KNOB_SCALES",
    "WorldMap",
    "measure_knobs",
    "measure_knobs_from_channels",
    "place_props",
    "prop_density_field",
]

WATER = WORLD_MATERIALS.index("water")

KNOB_SCALES = {"height_amplitude": 0.3, "roughness": 0.5, "tilt": 0.3, "centre_bias": 0.5, "prop_density": 0.3}
"""The raw value each measurement is divided by to land in [0, 1] (tilts and the centre bias are centred on 0.5)."""


@dataclass
class WorldMap:
    """One world map.

    Attributes:
        height (`np.ndarray` of shape `(size, size)`, float32): elevation in [0, 1].
        material (`np.ndarray` of shape `(size, size)`, int): index into `WORLD_MATERIALS` per cell.
        props (`np.ndarray` of shape `(size, size)`, float32): 1 where a prop (a tree, a rock) stands, else 0.
    """

    height: np.ndarray
    material: np.ndarray
    props: np.ndarray

    @property
    def size(self) -> int:
        return self.height.shape[0]

    def to_channels(self) -> np.ndarray:
        """`(len(WORLD_MAP_CHANNELS), size, size)` float32 in [-1, 1]: height, the material one-hots, and the
        props' local density (`prop_density_field`, scaled by `PROP_DENSITY_MAX`)."""
        one_hot = np.eye(len(WORLD_MATERIALS), dtype=np.float32)[self.material].transpose(2, 0, 1)
        density = np.clip(prop_density_field(self.props) / PROP_DENSITY_MAX, 0.0, 1.0)
        channels = np.concatenate([self.height[None], one_hot, density[None]]).astype(np.float32)
        # C order: concatenating the transposed one-hots keeps their channels-last layout, under which every torch
        # op on a stacked batch (e.g. `randn_like` for the training noise, 8x slower) runs on strided memory.
        return np.ascontiguousarray(channels * 2.0 - 1.0)

    @classmethod
    def from_channels(cls, channels: np.ndarray) -> "WorldMap":
        """The map of model channels (as `to_channels` writes or a sampler returns): height clipped to [0, 1], the
        material with the largest one-hot channel, and as many props as the density channel sums to, placed on the
        land where it is densest (`place_props`, seeded: the same channels always give the same map).

        Raises:
            ValueError: not `(len(WORLD_MAP_CHANNELS), size, size)`, or NaN/Inf values.
        """
        channels = np.asarray(channels, np.float32)
        if (
            channels.ndim != 3
            or channels.shape[0] != len(WORLD_MAP_CHANNELS)
            or channels.shape[1] != channels.shape[2]
        ):
            raise ValueError(
                f"World map channels must be ({len(WORLD_MAP_CHANNELS)}, size, size), got {channels.shape}."
            )
        if not np.isfinite(channels).all():
            raise ValueError("World map channels hold NaN/Inf values.")
        values = (channels + 1.0) / 2.0
        material = values[1 : 1 + len(WORLD_MATERIALS)].argmax(axis=0)
        density = np.clip(values[-1], 0.0, 1.0) * PROP_DENSITY_MAX  # as many props as it sums to, seeded
        props = place_props(density, material != WATER, round(float(density.sum())), np.random.default_rng(0))
        return cls(np.clip(values[0], 0.0, 1.0), material, props)

    def knobs(self) -> np.ndarray:
        """`measure_knobs(self)`."""
        return measure_knobs(self)

    def walkable(self, max_slope: float = 0.04) -> np.ndarray:
        """`(size, size)` bool: land that is neither snow nor too steep (height change to a neighbour above
        `max_slope`, in normalized height per cell) and holds no prop."""
        steep = np.zeros_like(self.height, bool)
        for axis in (0, 1):
            step = np.abs(np.diff(self.height, axis=axis)) > max_slope
            pad = [(0, 0), (0, 0)]
            pad[axis] = (1, 0)
            steep |= np.pad(step, pad)
            pad[axis] = (0, 1)
            steep |= np.pad(step, pad)
        land = (self.material != WATER) & (self.material != WORLD_MATERIALS.index("snow"))
        return land & ~steep & (self.props == 0)

    def to_grid_map(self):
        """The map as the NPC simulator's `GridMap`: walkable cells are floor, props are cover (they block sight and
        movement), the rest is wall."""
        from ..behaviour.maps import COVER, FLOOR, WALL, GridMap

        cells = np.full(self.height.shape, WALL, np.int8)
        cells[self.walkable()] = FLOOR
        cells[(self.props > 0) & (self.material != WATER)] = COVER
        return GridMap(cells)

    def to_scene(self, seed: int = 0, cell_size: float = 0.5, relief: float = 12.0):
        """A Mitsuba-ready `SceneSpec` of the terrain (one mesh per surface material, water as a flat sheet, props
        as small trees and rocks), a cell `cell_size` metres wide and the full height range `relief` metres; render
        it with `uruk_hf.data.rendering.render.ClipRenderer`."""
        from .scene import world_scene

        return world_scene(self, seed, cell_size, relief)


PROP_DENSITY_SIGMA = 1.5
"""Cells: the width of the Gaussian that spreads each prop into the density channel."""

PROP_DENSITY_MAX = 0.5
"""The densest prop field (props per cell) the channel holds: no two props stand on orthogonally adjacent cells, so
half the cells at most."""


def prop_density_field(props: np.ndarray) -> np.ndarray:
    """Props per cell, smoothed: each prop spread by a Gaussian of `PROP_DENSITY_SIGMA` cells (reflected at the
    border, so the field sums to the prop count)."""
    from scipy import ndimage

    return ndimage.gaussian_filter(props.astype(np.float64), PROP_DENSITY_SIGMA, mode="reflect")


def place_props(weights: np.ndarray, land: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`(size, size)` float32, 1 where a prop stands: `count` props (fewer if the land runs out of room) on `land`
    cells drawn in a random order weighted by `weights` (exponential keys), none orthogonally adjacent to another:
    Poisson-disk sampling on the grid, as the generator places props and as `from_channels` decodes a density."""
    props = np.zeros(weights.shape, np.float32)
    if count == 0:
        return props
    keys = -np.log(rng.uniform(1e-12, 1.0, weights.size)) / np.maximum(weights.reshape(-1), 1e-9)
    blocked = ~land
    placed = 0
    for cell in np.argsort(keys):
        row, column = divmod(int(cell), weights.shape[1])
        if blocked[row, column]:
            continue
        props[row, column] = 1.0
        blocked[max(row - 1, 0) : row + 2, column] = True
        blocked[row, max(column - 1, 0) : column + 2] = True
        placed += 1
        if placed == count:
            break
    return props


_SMOOTHING_SIGMA = 2.0
"""Cells: the Gaussian whose residual is the roughness measurement's high-frequency part."""


def _high_frequency_share(height: np.ndarray) -> float:
    from scipy import ndimage

    spread = height.std()
    return (
        float((height - ndimage.gaussian_filter(height, _SMOOTHING_SIGMA, mode="nearest")).std() / spread)
        if spread > 0
        else 0.0
    )


def measure_knobs(world: WorldMap) -> np.ndarray:
    """Every knob of `WORLD_KNOBS` measured from `world`, each in [0, 1] (scaled by `KNOB_SCALES` and clipped)."""
    height, material = world.height.astype(np.float64), world.material
    size = world.size
    land = material != WATER
    coordinates = np.linspace(-1.0, 1.0, size)
    z, x = np.meshgrid(coordinates, coordinates, indexing="ij")
    centred = height - height.mean()
    tilt_x = float((centred * x).sum() / (x * x).sum())
    tilt_z = float((centred * z).sum() / (z * z).sum())
    radius = np.hypot(x, z)
    centre_bias = float(height[radius < WORLD_CENTRE_RADIUS].mean() - height[radius > WORLD_BORDER_RADIUS].mean())
    gradient_z, gradient_x = np.gradient(height)
    jxx, jzz, jxz = (gradient_x**2).mean(), (gradient_z**2).mean(), (gradient_x * gradient_z).mean()
    energy = jxx + jzz
    anisotropy = ((jxx - jzz) / energy, 2.0 * jxz / energy) if energy > 0 else (0.0, 0.0)
    land_cells = max(int(land.sum()), 1)
    shares = [float((material == index).sum()) / land_cells for index in range(1, len(WORLD_MATERIALS))]
    values = {
        "water_fraction": float(1.0 - land.mean()),
        "land_height": float(height[land].mean()) if land.any() else 0.0,
        "height_amplitude": float(height.std()) / KNOB_SCALES["height_amplitude"],
        "roughness": _high_frequency_share(height) / KNOB_SCALES["roughness"],
        "tilt_x": 0.5 + tilt_x / (2 * KNOB_SCALES["tilt"]),
        "tilt_z": 0.5 + tilt_z / (2 * KNOB_SCALES["tilt"]),
        "centre_bias": 0.5 + centre_bias / (2 * KNOB_SCALES["centre_bias"]),
        "anisotropy_x": 0.5 + 0.5 * anisotropy[0],
        "anisotropy_z": 0.5 + 0.5 * anisotropy[1],
        "prop_density": float(world.props[land].sum()) / land_cells / KNOB_SCALES["prop_density"],
        **{f"{name}_share": share for name, share in zip(WORLD_MATERIALS[1:], shares)},
    }
    return np.clip(np.array([values[name] for name in WORLD_KNOBS], np.float32), 0.0, 1.0)


MATERIAL_SHARPNESS = 20.0
"""The softmax sharpness `measure_knobs_from_channels` reads the material channels with (one-hot channels give
shares within 1e-6 of the argmax's)."""


def measure_knobs_from_channels(channels, sharpness: float = MATERIAL_SHARPNESS):
    """`measure_knobs` of a batch of maps in model channels (as `WorldMap.to_channels` writes and a denoiser
    predicts), differentiably, for a training loss on predicted maps: height clipped to [0, 1] as `from_channels`
    reads it; each cell's material a softmax of its one-hot channels (times `sharpness`) instead of their argmax;
    the props the density channel's sum instead of the props `place_props` would put down for it. On the channels
    of a map it measures what `measure_knobs` does (up to props where the land has no room left for them).

    Args:
        channels (`torch.Tensor` of shape `(batch, len(WORLD_MAP_CHANNELS), size, size)`): maps in [-1, 1].

    Returns:
        `torch.Tensor` of shape `(batch, len(WORLD_KNOBS))`: every knob in [0, 1].
    """
    import torch
    from torch.nn import functional as F

    values = (channels.float() + 1.0) / 2.0
    height = values[:, 0].clamp(0.0, 1.0)
    materials = torch.softmax(values[:, 1 : 1 + len(WORLD_MATERIALS)] * sharpness, dim=1)
    density = values[:, -1].clamp(0.0, 1.0) * PROP_DENSITY_MAX
    size = height.shape[-1]
    land = 1.0 - materials[:, WATER]
    land_cells = land.sum(dim=(1, 2)).clamp_min(1.0)

    coordinates = torch.linspace(-1.0, 1.0, size, device=height.device)
    z, x = torch.meshgrid(coordinates, coordinates, indexing="ij")
    centred = height - height.mean(dim=(1, 2), keepdim=True)
    tilt_x = (centred * x).sum(dim=(1, 2)) / (x * x).sum()
    tilt_z = (centred * z).sum(dim=(1, 2)) / (z * z).sum()
    radius = torch.hypot(x, z)
    centre = height[:, radius < WORLD_CENTRE_RADIUS].mean(dim=1)
    centre_bias = centre - height[:, radius > WORLD_BORDER_RADIUS].mean(dim=1)
    gradient_z, gradient_x = torch.gradient(height, dim=(1, 2))
    jxx, jzz = (gradient_x**2).mean(dim=(1, 2)), (gradient_z**2).mean(dim=(1, 2))
    jxz = (gradient_x * gradient_z).mean(dim=(1, 2))
    energy = (jxx + jzz).clamp_min(1e-12)

    radius_cells = int(4.0 * _SMOOTHING_SIGMA + 0.5)  # scipy's truncation of the kernel at 4 sigma
    offsets = torch.arange(-radius_cells, radius_cells + 1, dtype=height.dtype, device=height.device)
    kernel = torch.exp(-0.5 * (offsets / _SMOOTHING_SIGMA) ** 2)
    kernel = kernel / kernel.sum()
    smooth = F.pad(height[:, None], (radius_cells,) * 4, mode="replicate")
    smooth = F.conv2d(smooth, kernel.view(1, 1, 1, -1))
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1))[:, 0]
    spread = height.std(dim=(1, 2), unbiased=False)
    residual = (height - smooth).std(dim=(1, 2), unbiased=False)
    high_frequency = torch.where(spread > 0, residual / spread.clamp_min(1e-12), torch.zeros_like(spread))

    measured = {
        "water_fraction": 1.0 - land.mean(dim=(1, 2)),
        "land_height": (height * land).sum(dim=(1, 2)) / land.sum(dim=(1, 2)).clamp_min(1e-6),
        "height_amplitude": spread / KNOB_SCALES["height_amplitude"],
        "roughness": high_frequency / KNOB_SCALES["roughness"],
        "tilt_x": 0.5 + tilt_x / (2 * KNOB_SCALES["tilt"]),
        "tilt_z": 0.5 + tilt_z / (2 * KNOB_SCALES["tilt"]),
        "centre_bias": 0.5 + centre_bias / (2 * KNOB_SCALES["centre_bias"]),
        "anisotropy_x": 0.5 + 0.5 * (jxx - jzz) / energy,
        "anisotropy_z": 0.5 + 0.5 * 2.0 * jxz / energy,
        "prop_density": density.sum(dim=(1, 2)) / land_cells / KNOB_SCALES["prop_density"],
        **{
            f"{name}_share": materials[:, index].sum(dim=(1, 2)) / land_cells
            for index, name in enumerate(WORLD_MATERIALS)
            if index != WATER
        },
    }
    return torch.stack([measured[name] for name in WORLD_KNOBS], dim=1).clamp(0.0, 1.0)
