"""Procedural texture images (numpy, linear RGB in [0, 1]) that make material classes tell apart by pattern.

Each generator takes a seeded `numpy.random.Generator` and a size and returns an `(size, size, 3)` float32 image
that tiles well enough for the `to_uv` scaling the scene generator applies.
"""

import numpy as np

__all__ = ["TEXTURE_PATTERNS", "fbm_noise", "render_pattern"]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise: a `cells x cells` random lattice, bicubically (smoothstep) interpolated to `size x size`."""
    lattice = rng.uniform(0.0, 1.0, (cells + 1, cells + 1))
    lattice[-1, :], lattice[:, -1] = lattice[0, :], lattice[:, 0]  # wrap so the texture tiles
    coords = np.linspace(0.0, cells, size, endpoint=False)
    index = coords.astype(int)
    fraction = coords - index
    fraction = fraction * fraction * (3.0 - 2.0 * fraction)
    rows = lattice[index] * (1 - fraction)[:, None] + lattice[index + 1] * fraction[:, None]
    return rows[:, index] * (1 - fraction)[None, :] + rows[:, index + 1] * fraction[None, :]


def fbm_noise(rng: np.random.Generator, size: int, octaves: int = 4, base_cells: int = 4) -> np.ndarray:
    """Fractional Brownian motion: octaves of value noise at doubling frequency and halving amplitude, in [0, 1]."""
    total, amplitude, norm = np.zeros((size, size)), 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * _smooth_noise(rng, size, base_cells * 2**octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    v, u = np.meshgrid(np.linspace(0, 1, size, endpoint=False), np.linspace(0, 1, size, endpoint=False), indexing="ij")
    return u, v


def _mix(colour_a: np.ndarray, colour_b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return colour_a[None, None, :] * (1 - weight[..., None]) + colour_b[None, None, :] * weight[..., None]


def _brushed(rng, size, base, accent):
    """Metal: fine anisotropic streaks along u."""
    streaks = _smooth_noise(rng, size, int(rng.integers(8, 17)))[:, :1].repeat(size, axis=1) * 0.7
    streaks += fbm_noise(rng, size, 2, 2) * 0.3
    return _mix(base, accent, streaks * 0.8)


def _chipped_paint(rng, size, base, accent):
    """Painted metal: flat paint with chips and scratches that show grey metal underneath."""
    chips = fbm_noise(rng, size, 5, 4) > rng.uniform(0.68, 0.78)
    scratches = np.abs(np.sin((_grid(size)[0] * 3 + _grid(size)[1]) * rng.uniform(20, 60))) > 0.995
    return _mix(base, accent, (chips | scratches).astype(float))


def _wood_grain(rng, size, base, accent):
    """Wood: distorted growth rings with plank seams."""
    u, v = _grid(size)
    distortion = fbm_noise(rng, size, 4, 2)
    rings = 0.5 + 0.5 * np.sin((v * rng.uniform(3, 8) + distortion * 2.0) * 2 * np.pi)
    seams = (np.mod(u * rng.integers(2, 5), 1.0) < 0.04).astype(float)
    return _mix(base, accent, np.clip(rings**3 * 0.8 + seams, 0, 1))


def _stone(rng, size, base, accent):
    """Stone: cloudy fBm with dark and light speckles."""
    cloud = fbm_noise(rng, size, 6, 4)
    speckles = rng.uniform(size=(size, size))
    weight = np.clip(cloud * 0.8 + (speckles > 0.97) * 0.5 - (speckles < 0.03) * 0.5, 0, 1)
    return _mix(base, accent, weight)


def _flat(rng, size, base, accent):
    """Plastic: nearly uniform colour with faint low-frequency variation."""
    return _mix(base, accent, fbm_noise(rng, size, 2, 2) * 0.15)


def _weave(rng, size, base, accent):
    """Fabric: over-under threads of two colours."""
    u, v = _grid(size)
    threads = rng.integers(3, 9)
    warp = 0.5 + 0.5 * np.sin(u * threads * 2 * np.pi)
    weft = 0.5 + 0.5 * np.sin(v * threads * 2 * np.pi)
    over = (np.floor(u * threads) + np.floor(v * threads)) % 2
    weight = np.where(over > 0, warp, weft) * 0.7 + fbm_noise(rng, size, 3, 8) * 0.3
    return _mix(base, accent, weight)


def _tiles(rng, size, base, accent):
    """Ceramic: glazed tiles separated by grout lines, with faint crackle veins."""
    u, v = _grid(size)
    count = rng.integers(2, 5)
    grout = (np.mod(u * count, 1.0) < 0.08) | (np.mod(v * count, 1.0) < 0.08)
    veins = np.abs(fbm_noise(rng, size, 4, 4) - 0.5) < 0.01
    return _mix(base, accent, np.clip(grout.astype(float) + veins * 0.4, 0, 1))


def _rubber(rng, size, base, accent):
    """Rubber: dark, fine grainy noise with a faint tread pattern."""
    u, v = _grid(size)
    tread = (np.mod(u * rng.integers(2, 6) + v * 2, 1.0) < 0.2).astype(float)
    return _mix(base, accent, np.clip(fbm_noise(rng, size, 3, 8) * 0.5 + tread * 0.5, 0, 1))


TEXTURE_PATTERNS = {
    "brushed": _brushed,
    "chipped_paint": _chipped_paint,
    "wood_grain": _wood_grain,
    "stone": _stone,
    "flat": _flat,
    "weave": _weave,
    "tiles": _tiles,
    "rubber": _rubber,
}
"""Pattern name -> generator `(rng, size, base_rgb, accent_rgb) -> (size, size, 3)`."""


def render_pattern(pattern: str, rng: np.random.Generator, size: int, base, accent) -> np.ndarray:
    """Renders pattern `pattern` between colours `base` and `accent` (linear RGB) as a float32 image in [0, 1]."""
    image = TEXTURE_PATTERNS[pattern](rng, size, np.asarray(base, float), np.asarray(accent, float))
    return np.clip(image, 0.0, 1.0).astype(np.float32)
