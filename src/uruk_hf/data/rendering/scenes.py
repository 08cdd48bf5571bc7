"""Seeded procedural scenes: rooms and open ground with boxes, spheres, cylinders, extruded prisms and rocks, area
lights or a sun and sky, and a camera path per clip.

A `SceneSpec` is plain numpy data (no renderer import), so it is cheap to build, easy to test, and turned into a
Mitsuba scene only by `uruk_hf.data.rendering.render`. Everything about a clip is drawn from
`numpy.random.default_rng([seed, clip_index])`: the same seed and clip give the same scene in any process.
"""

from dataclasses import dataclass

import numpy as np

from ...schema import MATERIAL_CLASSES
from .geometry import (
    displaced_sphere_mesh,
    extruded_polygon_mesh,
    rotation_x,
    rotation_y,
    scale,
    translation,
)
from .materials import MaterialSample, sample_material

__all__ = ["OBJECT_KINDS", "OUTDOOR_PROPS", "ROOM_LIGHTS", "ROOM_PROPS", "SceneObject", "SceneSpec", "generate_scene"]

OBJECT_KINDS = ("box", "sphere", "cylinder", "prism", "rock")
"""Kinds of props placed in a scene, all built as triangle meshes (`uruk_hf.data.rendering.geometry`)."""

ROOM_PROPS, OUTDOOR_PROPS, ROOM_LIGHTS = 6, 7, 2
"""Fixed object counts per scene kind. Dr.Jit compiles one kernel per scene *structure* (how many shapes, BSDFs and
emitters of which type) and reuses it across parameter values, so fixed counts make compilation a one-off cost per
process instead of ~1.5 s per scene; the camera path still shows a varying number of them."""

_FLOOR_CLASSES = ("wood", "stone", "ceramic", "fabric", "rubber")
_WALL_CLASSES = ("stone", "ceramic", "painted_metal", "wood", "fabric", "plastic")
_CEILING_CLASSES = ("plastic", "stone", "painted_metal", "ceramic")
_GROUND_CLASSES = ("stone", "rubber", "wood", "ceramic")


@dataclass
class SceneObject:
    """One shape of a scene.

    Attributes:
        name (`str`): unique id, also the Mitsuba shape id.
        kind (`str`): a prop kind of `OBJECT_KINDS`, `rectangle` (floors, walls, ground) or `light` (an emitting
            rectangle).
        to_world (`np.ndarray`): 4x4 object-to-world matrix of rectangles ([-1, 1]^2 facing +z); props are meshes
            already in world space (identity).
        object_id (`int`): the `material_id` buffer value, a per-scene random id in 1..255 that carries no class.
        material (`MaterialSample | None`): what it is made of; `None` for lights.
        mesh (`tuple | None`): `(vertices, faces, uvs, normals)` of props, world space.
        radiance (`np.ndarray | None`): RGB emitted radiance of lights.
        uv_scale (`float`): texture tiling over the shape's uv range.
    """

    name: str
    kind: str
    to_world: np.ndarray
    object_id: int
    material: MaterialSample | None = None
    mesh: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    radiance: np.ndarray | None = None
    uv_scale: float = 1.0

    @property
    def label(self) -> int:
        """The semantic class index, or -100 (ignored) for lights."""
        return self.material.class_index if self.material is not None else -100

    @property
    def power(self) -> float:
        """Emitted power proxy (mean radiance x area) of a light, 0 otherwise."""
        if self.radiance is None:
            return 0.0
        area = 4.0 * np.linalg.norm(self.to_world[:3, 0]) * np.linalg.norm(self.to_world[:3, 1])
        return float(np.mean(self.radiance) * area)


@dataclass
class SceneSpec:
    """A scene and its camera path.

    Attributes:
        kind (`str`): `"room"` (closed, lit by ceiling area lights) or `"outdoor"` (ground, sky and sun).
        objects (`list[SceneObject]`): every shape.
        sky_radiance (`np.ndarray | None`): RGB radiance of a uniform environment (outdoor).
        sun_direction (`np.ndarray | None`): unit vector towards the sun (outdoor).
        sun_irradiance (`np.ndarray | None`): RGB irradiance of the sun.
        camera_origins, camera_targets (`np.ndarray`): `(frames, 3)` camera positions and look-at points.
        fov (`float`): horizontal field of view in degrees.
    """

    kind: str
    objects: list[SceneObject]
    camera_origins: np.ndarray
    camera_targets: np.ndarray
    fov: float
    sky_radiance: np.ndarray | None = None
    sun_direction: np.ndarray | None = None
    sun_irradiance: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        """Frames of the clip."""
        return len(self.camera_origins)

    def strongest_light(self) -> SceneObject | None:
        """The area light with the most power, or `None` when the sun is the strongest light (outdoor)."""
        if self.sun_direction is not None:
            return None
        return max((obj for obj in self.objects if obj.kind == "light"), key=lambda obj: obj.power)


def _prop_mesh(kind: str, size: float, rng: np.random.Generator) -> tuple:
    """The mesh of a prop of `kind` and footprint radius `size`, standing on y = 0 at the origin."""
    if kind == "rock":
        return displaced_sphere_mesh(size, rng)
    if kind == "sphere":
        return displaced_sphere_mesh(size, rng, roughness=0.0)
    if kind == "box":
        half = np.array([size, size * rng.uniform(0.5, 1.0)]) * 0.75
        polygon = np.array([[-half[0], -half[1]], [half[0], -half[1]], [half[0], half[1]], [-half[0], half[1]]])
        return extruded_polygon_mesh(polygon, rng.uniform(0.3, 1.4))
    sides = 32 if kind == "cylinder" else int(rng.integers(3, 8))
    angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    radii = np.full(sides, size)
    if kind == "prism" and rng.uniform() < 0.5:  # a star: alternate outer and inner points
        angles = np.linspace(0, 2 * np.pi, 2 * sides, endpoint=False)
        radii = np.where(np.arange(2 * sides) % 2 == 0, size, size * rng.uniform(0.4, 0.7))
    polygon = np.column_stack([np.cos(angles) * radii, np.sin(angles) * radii])
    return extruded_polygon_mesh(polygon, rng.uniform(0.3, 1.4), smooth_sides=kind == "cylinder")


def _place_props(rng, count, half_extent, keep_out_radius, texture_size, next_id) -> list[SceneObject]:
    """Exactly `count` props on the floor inside `keep_out_radius` of the centre, without overlap when possible
    (sizes shrink as placement attempts fail)."""
    props, footprints = [], []
    for index in range(count):
        kind = OBJECT_KINDS[rng.integers(len(OBJECT_KINDS))]
        size = rng.uniform(0.2, 0.6)
        for attempt in range(200):
            centre = rng.uniform(-half_extent, half_extent, 2)
            size *= 0.99 if attempt else 1.0
            if np.linalg.norm(centre) < keep_out_radius and all(
                np.linalg.norm(centre - other) > size + other_size + 0.05 for other, other_size in footprints
            ):
                break
        footprints.append((centre, size))
        material = sample_material(MATERIAL_CLASSES[rng.integers(len(MATERIAL_CLASSES))], rng, texture_size)
        place = translation([centre[0], 0.0, centre[1]]) @ rotation_y(rng.uniform(0, 2 * np.pi))
        vertices, faces, uvs, normals = _prop_mesh(kind, size, rng)
        world_vertices = np.column_stack([vertices, np.ones(len(vertices))]) @ place.T
        world_normals = normals @ place[:3, :3].T
        mesh = (world_vertices[:, :3].astype(np.float32), faces, uvs, world_normals.astype(np.float32))
        props.append(
            SceneObject(f"prop_{index:02d}", kind, np.eye(4), next_id(), material, mesh, uv_scale=rng.uniform(1, 2))
        )
    return props


def _rectangle(name, to_world, classes, rng, texture_size, next_id, uv_scale) -> SceneObject:
    material = sample_material(classes[rng.integers(len(classes))], rng, texture_size)
    return SceneObject(name, "rectangle", to_world, next_id(), material, uv_scale=uv_scale)


def _camera_path(rng, frames, radius, height_range, look_height) -> tuple[np.ndarray, np.ndarray]:
    start = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.015, 0.05) * rng.choice([-1, 1])
    height = rng.uniform(*height_range)
    climb = rng.uniform(-0.03, 0.03)
    angles = start + speed * np.arange(frames)
    origins = np.column_stack([radius * np.cos(angles), height + climb * np.arange(frames), radius * np.sin(angles)])
    target = np.array([rng.uniform(-0.5, 0.5), look_height, rng.uniform(-0.5, 0.5)])
    drift = rng.normal(0, 0.02, 3)
    targets = target + drift * np.arange(frames)[:, None]
    return origins, targets


def generate_scene(seed: int, clip_index: int, frames: int, texture_size: int = 64) -> SceneSpec:
    """The scene of clip `clip_index` for dataset seed `seed`, with a camera path of `frames` frames."""
    rng = np.random.default_rng([seed, clip_index])
    available_ids = iter(rng.permutation(np.arange(1, 256)).tolist())

    def next_id() -> int:
        return next(available_ids)

    fov = float(rng.uniform(45, 65))
    if rng.uniform() < 0.6:
        width, depth, height = rng.uniform(5.0, 9.0), rng.uniform(5.0, 9.0), rng.uniform(2.8, 4.0)
        half = min(width, depth) / 2.0
        objects = [
            _rectangle(
                "floor",
                translation([0, 0, 0]) @ rotation_x(-np.pi / 2) @ scale([width / 2, depth / 2, 1]),
                _FLOOR_CLASSES,
                rng,
                texture_size,
                next_id,
                rng.uniform(2, 5),
            ),
            _rectangle(
                "ceiling",
                translation([0, height, 0]) @ rotation_x(np.pi / 2) @ scale([width / 2, depth / 2, 1]),
                _CEILING_CLASSES,
                rng,
                texture_size,
                next_id,
                3.0,
            ),
        ]
        wall_classes = _WALL_CLASSES
        wall_material = rng.uniform() < 0.7  # most rooms have one material on all walls
        first_wall = None
        for index, (position, angle, extent) in enumerate(
            [
                ([0, height / 2, -depth / 2], 0.0, width),
                ([0, height / 2, depth / 2], np.pi, width),
                ([-width / 2, height / 2, 0], np.pi / 2, depth),
                ([width / 2, height / 2, 0], -np.pi / 2, depth),
            ]
        ):
            to_world = translation(position) @ rotation_y(angle) @ scale([extent / 2, height / 2, 1])
            wall = _rectangle(f"wall_{index}", to_world, wall_classes, rng, texture_size, next_id, rng.uniform(2, 4))
            if wall_material and first_wall is not None:
                wall.material = first_wall.material
            first_wall = first_wall or wall
            objects.append(wall)
        for index in range(ROOM_LIGHTS):
            size = rng.uniform(0.5, 1.0, 2)
            position = [rng.uniform(-width / 4, width / 4), height - 0.01, rng.uniform(-depth / 4, depth / 4)]
            warmth = rng.uniform(-0.15, 0.15)
            radiance = rng.uniform(10.0, 30.0) * np.array([1.0 + warmth, 1.0, 1.0 - warmth])
            to_world = translation(position) @ rotation_x(np.pi / 2) @ scale([*size, 1.0])
            objects.append(SceneObject(f"light_{index}", "light", to_world, next_id(), radiance=radiance))
        radius = rng.uniform(0.55, 0.8) * half
        objects += _place_props(rng, ROOM_PROPS, half - 0.6, radius - 0.6, texture_size, next_id)
        origins, targets = _camera_path(rng, frames, radius, (1.1, min(2.0, height - 0.6)), rng.uniform(0.3, 0.9))
        return SceneSpec("room", objects, origins, targets, fov)

    ground = _rectangle(
        "ground",
        rotation_x(-np.pi / 2) @ scale([40, 40, 1]),
        _GROUND_CLASSES,
        rng,
        texture_size,
        next_id,
        rng.uniform(12, 30),
    )
    objects = [ground]
    objects += _place_props(rng, OUTDOOR_PROPS, 3.0, 3.0, texture_size, next_id)
    elevation, azimuth = rng.uniform(np.radians(20), np.radians(70)), rng.uniform(0, 2 * np.pi)
    sun_direction = np.array(
        [np.cos(elevation) * np.cos(azimuth), np.sin(elevation), np.cos(elevation) * np.sin(azimuth)]
    )
    sun_irradiance = rng.uniform(2.0, 6.0) * np.array([1.0, rng.uniform(0.85, 0.95), rng.uniform(0.7, 0.85)])
    sky_radiance = rng.uniform(0.3, 1.0) * np.array([rng.uniform(0.5, 0.7), rng.uniform(0.65, 0.8), 1.0])
    origins, targets = _camera_path(rng, frames, rng.uniform(3.5, 6.0), (1.0, 2.5), rng.uniform(0.2, 0.8))
    return SceneSpec("outdoor", objects, origins, targets, fov, sky_radiance, sun_direction, sun_irradiance)
