"""The procedural terrain generator of WS3: a knob vector (`WORLD_KNOBS`) and a random generator in, a `WorldMap`
out.

1. Height: fractal noise by spectral synthesis (power falling as `frequency ** -beta`, `beta` from the roughness
   knob), its spectrum stretched across the ridge direction (the anisotropy knobs), scaled to the amplitude knob,
   plus a plane (the tilt knobs) and a central rise or basin (the centre-bias knob); then thermal erosion (material
   slides downhill where the slope exceeds a talus angle) and a shift that puts the mean land height on its knob.
2. Water: every cell below the height quantile of the water-fraction knob.
3. Biomes: of the land, the highest cells are snow, the next highest and steepest rock, and the rest is ranked by a
   moisture field (smooth noise, wetter near water) into sand, grass, forest and wetland, each taking the share its
   knob asks for.
4. Props: Poisson-disk sampling on the grid (no two props on orthogonally adjacent cells), cells drawn in a random
   order weighted by biome (forests densest), until the prop-density knob's count is placed.

The generator aims at its knobs: water fraction and the biome shares it hits exactly, the others approximately
(`measure_knobs` of its output differs from the request; `uruk data baselines` reports by how much).
"""

import numpy as np

from ...schema import WORLD_KNOBS, WORLD_MATERIALS
from .worldmap import KNOB_SCALES, WorldMap, place_props

__all__ = ["generate_world", "sample_knobs"]

_PROP_PREFERENCE = {"sand": 0.1, "grass": 0.35, "forest": 1.0, "wetland": 0.5, "rock": 0.25, "snow": 0.05}
_TALUS, _EROSION_RATE, _EROSION_STEPS = 0.015, 0.2, 10


def sample_knobs(rng: np.random.Generator) -> np.ndarray:
    """Random settings for the generator: each knob from the range a designer would use (biome shares from a
    Dirichlet distribution, ridge directions uniform)."""
    strength, angle = rng.uniform(0.0, 0.8), rng.uniform(0.0, 2 * np.pi)
    values = {
        "water_fraction": rng.uniform(0.0, 0.6),
        "land_height": rng.uniform(0.3, 0.8),
        "height_amplitude": rng.uniform(0.15, 0.9),
        "roughness": rng.uniform(0.05, 0.8),
        "tilt_x": np.clip(0.5 + rng.normal(0.0, 0.12), 0.0, 1.0),
        "tilt_z": np.clip(0.5 + rng.normal(0.0, 0.12), 0.0, 1.0),
        "centre_bias": rng.uniform(0.2, 0.8),
        "anisotropy_x": 0.5 + 0.5 * strength * np.cos(angle),
        "anisotropy_z": 0.5 + 0.5 * strength * np.sin(angle),
        "prop_density": rng.uniform(0.0, 0.9),
    }
    shares = rng.dirichlet(np.full(len(WORLD_MATERIALS) - 1, 0.7))
    values.update({f"{name}_share": share for name, share in zip(WORLD_MATERIALS[1:], shares)})
    return np.array([values[name] for name in WORLD_KNOBS], np.float32)


def _spectral_noise(rng: np.random.Generator, size: int, beta: float, anisotropy: tuple[float, float]) -> np.ndarray:
    """Zero-mean, unit-variance noise with power `|f| ** -beta`; `anisotropy` (the knobs' [-1, 1] vector) squeezes
    the spectrum across the direction whose gradients it favours."""
    strength = float(np.hypot(*anisotropy))
    angle = 0.5 * float(np.arctan2(anisotropy[1], anisotropy[0]))
    frequency_z, frequency_x = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    along = frequency_x * np.cos(angle) + frequency_z * np.sin(angle)
    across = -frequency_x * np.sin(angle) + frequency_z * np.cos(angle)
    radius = np.hypot(along, across * (1.0 + 6.0 * strength))
    radius[0, 0] = 1.0
    amplitude = radius ** (-beta / 2.0)
    amplitude[0, 0] = 0.0
    phases = np.exp(2j * np.pi * rng.uniform(size=(size, size)))
    field = np.real(np.fft.ifft2(amplitude * phases))
    return (field - field.mean()) / max(field.std(), 1e-8)


def _erode(height: np.ndarray) -> np.ndarray:
    """Thermal erosion: at every step each cell sheds `_EROSION_RATE` of its height above the talus slope to each
    lower orthogonal neighbour."""
    height = height.copy()
    for _ in range(_EROSION_STEPS):
        padded = np.pad(height, 1, mode="edge")
        flow = np.zeros_like(height)
        moved = []
        for dz, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            neighbour = padded[1 + dz : 1 + dz + height.shape[0], 1 + dx : 1 + dx + height.shape[1]]
            outflow = _EROSION_RATE * np.maximum(height - neighbour - _TALUS, 0.0) / 4.0
            flow -= outflow
            moved.append(((dz, dx), outflow))
        for (dz, dx), outflow in moved:
            inflow = np.zeros_like(height)
            rows = slice(max(dz, 0), height.shape[0] + min(dz, 0))
            cols = slice(max(dx, 0), height.shape[1] + min(dx, 0))
            source_rows = slice(max(-dz, 0), height.shape[0] + min(-dz, 0))
            source_cols = slice(max(-dx, 0), height.shape[1] + min(-dx, 0))
            inflow[rows, cols] = outflow[source_rows, source_cols]
            flow += inflow
        height += flow
    return height


def _counts(shares: np.ndarray, total: int) -> np.ndarray:
    """`total` split by `shares` into integers (largest remainders), summing to `total`."""
    shares = np.maximum(shares, 0.0)
    shares = shares / shares.sum() if shares.sum() > 0 else np.full(len(shares), 1.0 / len(shares))
    raw = shares * total
    counts = np.floor(raw).astype(int)
    for index in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[index] += 1
    return counts


def generate_world(knobs: np.ndarray, rng: np.random.Generator, size: int = 64) -> WorldMap:
    """A world map aiming at `knobs` (`len(WORLD_KNOBS)` values in [0, 1]); see the module docstring.

    Raises:
        ValueError: `knobs` has the wrong length or values outside [0, 1].
    """
    knobs = np.asarray(knobs, np.float64)
    if knobs.shape != (len(WORLD_KNOBS),) or not np.isfinite(knobs).all() or (knobs < 0).any() or (knobs > 1).any():
        raise ValueError(f"knobs must be {len(WORLD_KNOBS)} values in [0, 1] ({', '.join(WORLD_KNOBS)}).")
    k = dict(zip(WORLD_KNOBS, knobs))
    coordinates = np.linspace(-1.0, 1.0, size)
    z, x = np.meshgrid(coordinates, coordinates, indexing="ij")
    tilt_x = (k["tilt_x"] - 0.5) * 2 * KNOB_SCALES["tilt"]
    tilt_z = (k["tilt_z"] - 0.5) * 2 * KNOB_SCALES["tilt"]
    centre = (k["centre_bias"] - 0.5) * 2 * KNOB_SCALES["centre_bias"] / 0.8
    shape = tilt_x * x + tilt_z * z + centre * np.exp(-((np.hypot(x, z) / 0.6) ** 2))
    spread = k["height_amplitude"] * KNOB_SCALES["height_amplitude"]
    noise_spread = np.sqrt(max(spread**2 - shape.var(), 0.02**2))
    beta = 3.6 - 2.4 * k["roughness"]
    anisotropy = (2 * k["anisotropy_x"] - 1, 2 * k["anisotropy_z"] - 1)
    height = _erode(shape + noise_spread * _spectral_noise(rng, size, beta, anisotropy))

    order = np.argsort(height, axis=None, kind="stable")
    water = np.zeros(size * size, bool)
    water[order[: round(k["water_fraction"] * size * size)]] = True
    water = water.reshape(size, size)
    land = ~water
    if land.any():
        height = height + (k["land_height"] - height[land].mean())
    height = np.clip(height, 0.0, 1.0).astype(np.float32)

    material = np.zeros((size, size), np.int64)  # water
    land_cells = np.flatnonzero(land)
    counts = dict(zip(WORLD_MATERIALS[1:], _counts(knobs[-(len(WORLD_MATERIALS) - 1) :], len(land_cells))))
    flat_height = height.reshape(-1)
    remaining = land_cells[np.argsort(-flat_height[land_cells], kind="stable")]
    material.reshape(-1)[remaining[: counts["snow"]]] = WORLD_MATERIALS.index("snow")
    remaining = remaining[counts["snow"] :]
    slope = np.hypot(*np.gradient(height)).reshape(-1)
    rocky = remaining[np.argsort(-(flat_height[remaining] + 2.0 * slope[remaining]), kind="stable")]
    material.reshape(-1)[rocky[: counts["rock"]]] = WORLD_MATERIALS.index("rock")
    remaining = rocky[counts["rock"] :]
    moisture = _spectral_noise(rng, size, 3.2, (0.0, 0.0)).reshape(-1) - 2.0 * flat_height
    ranked = remaining[np.argsort(moisture[remaining], kind="stable")]
    start = 0
    for name in ("sand", "grass", "forest", "wetland"):
        material.reshape(-1)[ranked[start : start + counts[name]]] = WORLD_MATERIALS.index(name)
        start += counts[name]

    target = round(k["prop_density"] * KNOB_SCALES["prop_density"] * len(land_cells))
    preference = np.array([_PROP_PREFERENCE.get(name, 0.0) for name in WORLD_MATERIALS])[material]
    props = place_props(preference, land, target, rng)
    return WorldMap(height, material, props)
