"""The Mitsuba scene of a block structure (`Structure.to_scene`): one textured box per block with its type's
material, a ground plane, a sun and sky, and a camera that frames the whole structure."""

import numpy as np

from ..rendering.geometry import extruded_polygon_mesh, place_mesh, rotation_x, scale, translation
from ..rendering.materials import sample_material
from ..rendering.scenes import SceneObject, SceneSpec
from .structures import BLOCK_MATERIALS, Structure

__all__ = ["render_structure", "structure_scene"]


def structure_scene(structure: Structure, seed: int = 0, cell_size: float = 0.25, frames: int = 1) -> SceneSpec:
    """`structure` as a `SceneSpec` (see the module docstring): the grid's centre at the origin, a cell
    `cell_size` metres wide, materials drawn from `seed` (one per block type), `frames` camera views circling it.

    Raises:
        ValueError: the structure has no block.
    """
    from ...schema import BLOCK_TYPES

    if not structure.blocks:
        raise ValueError("A structure without blocks has no scene.")
    rng = np.random.default_rng(seed)
    materials = {name: sample_material(BLOCK_MATERIALS[name], rng) for name in BLOCK_TYPES}
    cells = structure.array()
    low, high = cells[:, 1:4].min(axis=0), (cells[:, 1:4] + cells[:, 4:7]).max(axis=0)
    centre = (low + high) / 2.0 * cell_size
    objects = [
        SceneObject(
            "ground", "rectangle", rotation_x(-np.pi / 2) @ scale([60, 60, 1]), 1,
            sample_material("stone", rng), uv_scale=30.0,
        )
    ]  # fmt: skip
    for index, block in enumerate(structure.blocks):
        size = np.array([block.size_x, block.size_y, block.size_z], float) * cell_size
        corner = np.array([block.x, block.y, block.z], float) * cell_size - [centre[0], 0.0, centre[2]]
        polygon = np.array([[0, 0], [size[0], 0], [size[0], size[2]], [0, size[2]]])
        mesh = place_mesh(extruded_polygon_mesh(polygon, size[1]), translation(corner))
        material = materials[BLOCK_TYPES[block.type]]
        objects.append(SceneObject(f"block_{index:02d}", "box", np.eye(4), index + 2, material, mesh, uv_scale=0.5))
    extent = float(np.linalg.norm((high - low) * cell_size))
    distance = 0.6 * extent / np.tan(np.radians(22.5)) + 0.5  # the 45-degree view holds the whole structure
    angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, frames, endpoint=False)
    elevation = np.radians(rng.uniform(20, 35))
    look = np.array([0.0, centre[1], 0.0])
    origins = look + distance * np.column_stack(
        [np.cos(angles) * np.cos(elevation), np.full(frames, np.sin(elevation)), np.sin(angles) * np.cos(elevation)]
    )
    azimuth, sun_elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(35, 65))
    sun = np.array(
        [np.cos(sun_elevation) * np.cos(azimuth), np.sin(sun_elevation), np.cos(sun_elevation) * np.sin(azimuth)]
    )
    return SceneSpec(
        "structure", objects, origins, np.repeat(look[None], frames, axis=0), 45.0,
        sky_radiance=np.array([0.2, 0.26, 0.38]), sun_direction=sun, sun_irradiance=np.array([2.0, 1.9, 1.7]),
    )  # fmt: skip


def render_structure(structure: Structure, size: int = 96, spp: int = 32, seed: int = 0) -> np.ndarray:
    """A path-traced `(size, size, 3)` sRGB uint8 view of `structure` (`render_preview`)."""
    from ..rendering.render import render_preview

    return render_preview(structure_scene(structure, seed), size, spp, seed)
