"""The Mitsuba scene of a world map (`WorldMap.to_scene`): the height field as one triangle mesh per surface
material (each cell two triangles, coloured by its material), water as a flat sheet at the shore's height, props as
small trees (on grass, forest, wetland) or rocks (one mesh of each), under a sun and sky, seen from above at an
angle."""

from dataclasses import replace

import numpy as np

from ...schema import WORLD_MATERIALS
from ..rendering.geometry import extruded_polygon_mesh, place_mesh, rotation_x, scale, translation
from ..rendering.materials import MaterialSample, sample_material
from ..rendering.scenes import SceneObject, SceneSpec
from .worldmap import WorldMap

__all__ = ["render_world", "world_scene"]

_SURFACE = {  # library material class, linear base colour
    "water": ("ceramic", (0.03, 0.09, 0.18)),
    "sand": ("stone", (0.62, 0.52, 0.32)),
    "grass": ("fabric", (0.16, 0.36, 0.08)),
    "forest": ("fabric", (0.06, 0.2, 0.05)),
    "wetland": ("rubber", (0.14, 0.2, 0.12)),
    "rock": ("stone", (0.3, 0.29, 0.27)),
    "snow": ("ceramic", (0.85, 0.87, 0.9)),
}


def _material(name: str, rng: np.random.Generator) -> MaterialSample:
    class_name, colour = _SURFACE[name]
    drawn = sample_material(class_name, rng, texture_size=8)
    shade = rng.uniform(0.9, 1.1, (8, 8, 1))
    return replace(drawn, texture=np.clip(np.asarray(colour)[None, None] * shade, 0.0, 1.0),
                   roughness=0.05 if name == "water" else drawn.roughness)  # fmt: skip


def _cell_mesh(points: np.ndarray, cells: np.ndarray, size: int) -> tuple:
    """Two triangles per cell of `cells` (flat indices) over the `(size + 1)^2` corner `points`, with their own
    vertices (flat shading) and planar uvs."""
    rows, columns = np.divmod(cells, size)
    corners = np.stack(
        [rows * (size + 1) + columns, rows * (size + 1) + columns + 1,
         (rows + 1) * (size + 1) + columns + 1, (rows + 1) * (size + 1) + columns], axis=1,
    )  # fmt: skip
    vertices = points[corners].reshape(-1, 3)
    base = np.arange(len(cells))[:, None] * 4
    faces = np.concatenate([base + np.array([0, 3, 2]), base + np.array([0, 2, 1])]).astype(np.uint32)
    uvs = vertices[:, [0, 2]] / max(float(np.ptp(points[:, 0])), 1e-6)
    quads = vertices.reshape(-1, 4, 3)
    normal = np.cross(quads[:, 3] - quads[:, 0], quads[:, 1] - quads[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return vertices, faces, uvs, np.repeat(normal, 4, axis=0)


def _merge(meshes: list[tuple]) -> tuple:
    """One mesh of several `(vertices, faces, uvs, normals)` meshes."""
    offsets = np.cumsum([0] + [len(mesh[0]) for mesh in meshes[:-1]])
    faces = np.concatenate([mesh[1] + offset for mesh, offset in zip(meshes, offsets)]).astype(np.uint32)
    return (np.concatenate([m[0] for m in meshes]), faces, np.concatenate([m[2] for m in meshes]),
            np.concatenate([m[3] for m in meshes]))  # fmt: skip


def world_scene(world: WorldMap, seed: int = 0, cell_size: float = 0.5, relief: float = 12.0) -> SceneSpec:
    """`world` as a `SceneSpec` (see the module docstring), centred on the origin."""
    rng = np.random.default_rng(seed)
    size = world.size
    half = size * cell_size / 2.0
    corner_height = np.pad(world.height, 1, mode="edge")
    corner_height = (
        corner_height[:-1, :-1] + corner_height[1:, :-1] + corner_height[:-1, 1:] + corner_height[1:, 1:]
    ) / 4.0  # (size + 1, size + 1) corners, each the mean of the cells around it
    grid = np.arange(size + 1) * cell_size - half
    row_position, column_position = np.meshgrid(grid, grid, indexing="ij")
    points = np.stack([column_position, corner_height * relief, row_position], axis=-1).reshape(-1, 3)
    water_index = WORLD_MATERIALS.index("water")
    objects, object_id = [], 1
    for index, name in enumerate(WORLD_MATERIALS):
        cells = np.flatnonzero(world.material.reshape(-1) == index)
        if len(cells) == 0:
            continue
        material = _material(name, rng)
        if index == water_index:
            shore = world.height[world.material != water_index]
            level = float(shore.min()) * relief if len(shore) else float(world.height.max()) * relief
            flat = points.copy()
            flat[:, 1] = level
            mesh = _cell_mesh(flat, cells, size)
        else:
            mesh = _cell_mesh(points, cells, size)
        objects.append(SceneObject(f"surface_{name}", "panel", np.eye(4), object_id, material, mesh))
        object_id += 1
    props = {"trees": [], "rocks": []}
    for row, column in np.argwhere(world.props > 0):
        name = WORLD_MATERIALS[world.material[row, column]]
        base = np.array([column * cell_size - half + cell_size / 2, world.height[row, column] * relief,
                         row * cell_size - half + cell_size / 2])  # fmt: skip
        tree = name in ("grass", "forest", "wetland")
        sides = 6 if tree else 5
        angles = np.linspace(0, 2 * np.pi, sides, endpoint=False) + rng.uniform(0, np.pi)
        polygon = np.column_stack([np.cos(angles), np.sin(angles)]) * cell_size * (0.35 if tree else 0.3)
        tall = cell_size * (2.5 if tree else 0.8) * rng.uniform(0.7, 1.3)
        props["trees" if tree else "rocks"].append(place_mesh(extruded_polygon_mesh(polygon, tall), translation(base)))
    for (name, meshes), material in zip(props.items(), (_material("grass", rng), _material("rock", rng))):
        if meshes:  # one mesh per kind: a scene of hundreds of props loads as fast as one of two
            objects.append(SceneObject(f"props_{name}", "prop", np.eye(4), object_id, material, _merge(meshes)))
            object_id += 1
    ground = translation([0, -0.01, 0]) @ rotation_x(-np.pi / 2) @ scale([3 * half, 3 * half, 1])
    objects.append(SceneObject("ground", "rectangle", ground, object_id, _material("rock", rng)))
    distance = 2.2 * half
    angle = rng.uniform(0, 2 * np.pi)
    origin = np.array([distance * np.cos(angle), 0.55 * relief + 1.2 * half, distance * np.sin(angle)])
    target = np.array([0.0, 0.3 * relief, 0.0])
    sun = np.array([0.4, 0.8, 0.3]) / np.linalg.norm([0.4, 0.8, 0.3])
    return SceneSpec(
        "terrain", objects, origin[None], target[None], 50.0,
        sky_radiance=np.array([0.2, 0.26, 0.38]), sun_direction=sun, sun_irradiance=np.array([2.2, 2.1, 1.9]),
    )  # fmt: skip


def render_world(world: WorldMap, size: int = 96, spp: int = 32, seed: int = 0) -> np.ndarray:
    """A path-traced `(size, size, 3)` sRGB uint8 view of `world` (`render_preview`)."""
    from ..rendering.render import render_preview

    return render_preview(world_scene(world, seed), size, spp, seed)
