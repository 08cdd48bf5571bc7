"""Seeded procedural scenes and a camera path per clip: rooms, large halls, long corridors, open ground under a sun
and sky, and open ground at night; props of seven kinds (boxes, spheres, cylinders, extruded prisms, rocks, thin
poles and thin panels), area lights of many sizes, colours and placements (ceiling, walls, lamp heads), glowing
props, glossy and metal-dominated scenes, textures at many scales, cameras from knee to ceiling height with fields
of view from 30 to 90 degrees, orbiting or walking, and an exposure spread of about 2.5 stops.

A `SceneSpec` is plain numpy data (no renderer import), so it is cheap to build, easy to test, and turned into a
Mitsuba scene only by `uruk_hf.data.rendering.render`. Everything about a clip is drawn from
`numpy.random.default_rng([seed, clip_index])`: the same seed and clip give the same scene in any process.
"""

import colorsys
from dataclasses import dataclass, replace

import numpy as np

from ...schema import MATERIAL_CLASSES
from .geometry import (
    displaced_sphere_mesh,
    extruded_polygon_mesh,
    place_mesh,
    rotation_x,
    rotation_y,
    scale,
    translation,
)
from .materials import MaterialSample, sample_material

__all__ = [
    "OBJECT_KINDS",
    "OUTDOOR_PROPS",
    "ROOM_PROPS",
    "SCENE_KINDS",
    "SceneObject",
    "SceneSpec",
    "generate_scene",
]

OBJECT_KINDS = ("box", "sphere", "cylinder", "prism", "rock", "pole", "panel")
"""Kinds of props placed in a scene, all built as triangle meshes (`uruk_hf.data.rendering.geometry`); `pole` and
`panel` are thin geometry (a few centimetres across)."""

SCENE_KINDS = {"room": 0.3, "hall": 0.15, "corridor": 0.15, "outdoor": 0.25, "night": 0.15}
"""Scene kinds and their share of clips."""

ROOM_PROPS, OUTDOOR_PROPS = 6, 7
"""Props per interior scene and per open-ground scene. Dr.Jit compiles one kernel per scene *structure* (how many
shapes, BSDFs and emitters of which type) and reuses it across parameter values, so object counts are drawn from
small sets (the light count per kind, zero or one glowing prop): compilation stays a one-off cost of a few dozen
structures per process instead of ~1.5 s per scene; the camera path still shows a varying number of them."""

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
            rectangle). A prop with `radiance` and no material is a glowing prop.
        to_world (`np.ndarray`): 4x4 object-to-world matrix of rectangles ([-1, 1]^2 facing +z); props are meshes
            already in world space (identity).
        object_id (`int`): the `material_id` buffer value, a per-scene random id in 1..255 that carries no class.
        material (`MaterialSample | None`): what it is made of; `None` for lights and glowing props.
        mesh (`tuple | None`): `(vertices, faces, uvs, normals)` of props, world space.
        radiance (`np.ndarray | None`): RGB emitted radiance of lights and glowing props.
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
    def rectangle_area(self) -> float:
        """Area of the rectangle `to_world` maps `[-1, 1]^2` onto (lights, floors, walls)."""
        return float(4.0 * np.linalg.norm(self.to_world[:3, 0]) * np.linalg.norm(self.to_world[:3, 1]))

    @property
    def power(self) -> float:
        """Emitted power proxy (mean radiance x area) of a light, 0 otherwise."""
        if self.radiance is None:
            return 0.0
        return float(np.mean(self.radiance) * self.rectangle_area)


@dataclass
class SceneSpec:
    """A scene and its camera path.

    Attributes:
        kind (`str`): a kind of `SCENE_KINDS` (procedural scenes) or a hand-made scene's name.
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
        """The rectangular area light with the most power, or `None` when the sun is the strongest light (outdoor)
        or there is no rectangular light."""
        if self.sun_direction is not None:
            return None
        return max((obj for obj in self.objects if obj.kind == "light"), key=lambda obj: obj.power, default=None)


_FLOOR_CLASSES = ("wood", "stone", "ceramic", "fabric", "rubber")
_WALL_CLASSES = ("stone", "ceramic", "painted_metal", "wood", "fabric", "plastic")
_CEILING_CLASSES = ("plastic", "stone", "painted_metal", "ceramic")
_GROUND_CLASSES = ("stone", "rubber", "wood", "ceramic")
_GLOSSY_CLASSES = ("metal", "painted_metal", "ceramic", "plastic")


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _light_colour(rng: np.random.Generator) -> np.ndarray:
    """A light's colour of unit mean: mostly white to warm or cool (a colour temperature), sometimes saturated."""
    if rng.uniform() < 0.2:
        hue = rng.uniform()
        colour = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.4, 0.85), 1.0))
    else:
        warmth = rng.uniform(-0.35, 0.45)
        colour = np.array([1.0 + warmth, 1.0, max(0.2, 1.0 - warmth)])
    return colour / colour.mean()


class _Scene:
    """The objects of one scene under construction: unique names, random `material_id`s, the scene's style."""

    def __init__(self, rng: np.random.Generator, texture_size: int):
        self.rng, self.texture_size = rng, texture_size
        self.available_ids = iter(rng.permutation(np.arange(1, 256)).tolist())
        self.objects: list[SceneObject] = []
        self.exposure = _log_uniform(rng, 0.4, 2.5)
        self.glossy = rng.uniform() < 0.25  # metal- and gloss-dominated props and floors

    def next_id(self) -> int:
        return next(self.available_ids)

    def material(self, classes, glossy: bool = False) -> MaterialSample:
        material = sample_material(classes[self.rng.integers(len(classes))], self.rng, self.texture_size)
        if glossy:
            material = replace(material, roughness=material.roughness * self.rng.uniform(0.1, 0.4))
        return material

    def rectangle(self, name, to_world, classes, uv_scale, glossy: bool = False) -> None:
        material = self.material(classes, glossy)
        self.objects.append(SceneObject(name, "rectangle", to_world, self.next_id(), material, uv_scale=uv_scale))

    def light(self, name, to_world, radiance) -> None:
        radiance = np.asarray(radiance, float) * self.exposure
        self.objects.append(SceneObject(name, "light", to_world, self.next_id(), radiance=radiance))

    def props(self, count, region, clear_of, glowing: int = 0, size_range=(0.2, 0.6)) -> None:
        """`count` props (the first `glowing` of them glowing spheres) standing on y = 0 inside the rectangle
        `region = (x0, x1, z0, z1)`, not overlapping where possible, and farther than `clear_of(centre, size)`
        allows from the camera path."""
        rng, footprints = self.rng, []
        for index in range(count):
            kind = "sphere" if index < glowing else OBJECT_KINDS[rng.integers(len(OBJECT_KINDS))]
            size = rng.uniform(*size_range) * (0.4 if index < glowing else 1.0)
            for attempt in range(200):
                centre = np.array([rng.uniform(region[0], region[1]), rng.uniform(region[2], region[3])])
                size *= 0.99 if attempt else 1.0
                if clear_of(centre, size) and all(
                    np.linalg.norm(centre - other) > size + other_size + 0.05 for other, other_size in footprints
                ):
                    break
            footprints.append((centre, size))
            place = translation([centre[0], 0.0, centre[1]]) @ rotation_y(rng.uniform(0, 2 * np.pi))
            mesh = place_mesh(_prop_mesh(kind, size, rng), place)
            if index < glowing:
                radiance = _light_colour(rng) * _log_uniform(rng, 3.0, 30.0) * self.exposure
                self.objects.append(
                    SceneObject(f"prop_{index:02d}", kind, np.eye(4), self.next_id(), None, mesh, radiance)
                )
                continue
            classes = _GLOSSY_CLASSES if self.glossy else MATERIAL_CLASSES
            material = self.material(classes, glossy=self.glossy)
            uv_scale = _log_uniform(rng, 0.5, 4.0)
            self.objects.append(
                SceneObject(f"prop_{index:02d}", kind, np.eye(4), self.next_id(), material, mesh, uv_scale=uv_scale)
            )


def _prop_mesh(kind: str, size: float, rng: np.random.Generator) -> tuple:
    """The mesh of a prop of `kind` and footprint radius `size`, standing on y = 0 at the origin."""
    if kind == "rock":
        return displaced_sphere_mesh(size, rng)
    if kind == "sphere":
        return displaced_sphere_mesh(size, rng, roughness=0.0)
    if kind in ("box", "panel"):
        depth = rng.uniform(0.01, 0.04) if kind == "panel" else size * rng.uniform(0.5, 1.0) * 0.75
        half = np.array([size * 0.75, depth])
        polygon = np.array([[-half[0], -half[1]], [half[0], -half[1]], [half[0], half[1]], [-half[0], half[1]]])
        return extruded_polygon_mesh(polygon, rng.uniform(0.3, 1.4) * (1.5 if kind == "panel" else 1.0))
    if kind == "pole":
        angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        radius = rng.uniform(0.015, 0.05)
        polygon = np.column_stack([np.cos(angles), np.sin(angles)]) * radius
        return extruded_polygon_mesh(polygon, rng.uniform(0.8, 2.5), smooth_sides=True)
    sides = 32 if kind == "cylinder" else int(rng.integers(3, 8))
    angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    radii = np.full(sides, size)
    if kind == "prism" and rng.uniform() < 0.5:  # a star: alternate outer and inner points
        angles = np.linspace(0, 2 * np.pi, 2 * sides, endpoint=False)
        radii = np.where(np.arange(2 * sides) % 2 == 0, size, size * rng.uniform(0.4, 0.7))
    polygon = np.column_stack([np.cos(angles) * radii, np.sin(angles) * radii])
    return extruded_polygon_mesh(polygon, rng.uniform(0.3, 1.4), smooth_sides=kind == "cylinder")


def _orbit(rng, frames, radius, height_range, look_height) -> tuple[np.ndarray, np.ndarray]:
    """A camera circling the centre at `radius`, looking at a point near it."""
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


def _walk(rng, frames, start, direction, height, look_height, look_distance) -> tuple[np.ndarray, np.ndarray]:
    """A camera walking from `start` along the unit xz `direction`, looking ahead with a slow pan."""
    step = rng.uniform(0.05, 0.2)
    lateral = np.array([-direction[1], direction[0]]) * rng.uniform(-0.03, 0.03)
    along = np.arange(frames)[:, None]
    positions = np.asarray(start) + along * (np.asarray(direction) * step + lateral)
    origins = np.column_stack([positions[:, 0], np.full(frames, height), positions[:, 1]])
    ahead = np.asarray(start) + np.asarray(direction) * look_distance
    pan = np.array([-direction[1], direction[0]]) * rng.normal(0, 0.05) * np.arange(frames)[:, None]
    targets = np.column_stack([ahead[0] + pan[:, 0], np.full(frames, look_height), ahead[1] + pan[:, 1]])
    return origins, targets


def _interior(scene: _Scene, width: float, depth: float, height: float) -> None:
    """Floor, ceiling and four walls of a `width` x `depth` x `height` box centred on the y axis."""
    rng = scene.rng
    floor = translation([0, 0, 0]) @ rotation_x(-np.pi / 2) @ scale([width / 2, depth / 2, 1])
    floor_classes = _GLOSSY_CLASSES if scene.glossy else _FLOOR_CLASSES
    scene.rectangle("floor", floor, floor_classes, _log_uniform(rng, 1.0, 3.0 * max(width, depth)), scene.glossy)
    ceiling = translation([0, height, 0]) @ rotation_x(np.pi / 2) @ scale([width / 2, depth / 2, 1])
    scene.rectangle("ceiling", ceiling, _CEILING_CLASSES, _log_uniform(rng, 1.0, 8.0))
    shared_material = rng.uniform() < 0.7  # most rooms have one material on all walls
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
        scene.rectangle(f"wall_{index}", to_world, _WALL_CLASSES, _log_uniform(rng, 1.0, extent))
        if shared_material and first_wall is not None:
            scene.objects[-1].material = first_wall.material
        first_wall = first_wall or scene.objects[-1]


def _interior_lights(scene: _Scene, count: int, width: float, depth: float, height: float, big: bool) -> None:
    """`count` area lights: ceiling panels (large skylights in halls), or panels on the walls facing inward."""
    rng = scene.rng
    for index in range(count):
        half = np.array([_log_uniform(rng, 0.1, 2.5 if big else 0.8) for _ in range(2)])
        # Power (radiance x area), not radiance, is drawn: a small panel is a bright bulb, a large one a soft box.
        # A hall's lights carry eight times a room's: they light several times its floor.
        power = _log_uniform(rng, 15.0, 120.0) * (8.0 if big else 1.0)
        radiance = _light_colour(rng) * power / (4.0 * half.prod())
        if rng.uniform() < 0.7:  # on the ceiling, facing down
            position = [rng.uniform(-width / 3, width / 3), height - 0.01, rng.uniform(-depth / 3, depth / 3)]
            to_world = translation(position) @ rotation_x(np.pi / 2) @ scale([*half, 1.0])
        else:  # on a wall, facing into the room
            wall = rng.integers(4)
            along, up = rng.uniform(-0.35, 0.35), rng.uniform(0.45, 0.85) * height
            half = np.minimum(half, [width / 4, height / 4])
            position, angle = [
                ([along * width, up, -depth / 2 + 0.01], 0.0),
                ([along * width, up, depth / 2 - 0.01], np.pi),
                ([-width / 2 + 0.01, up, along * depth], np.pi / 2),
                ([width / 2 - 0.01, up, along * depth], -np.pi / 2),
            ][wall]
            to_world = translation(position) @ rotation_y(angle) @ scale([*half, 1.0])
        scene.light(f"light_{index}", to_world, radiance)


def _room(scene: _Scene, frames: int, fov: float, hall: bool) -> SceneSpec:
    rng = scene.rng
    if hall:
        width, depth, height = rng.uniform(10.0, 24.0), rng.uniform(10.0, 24.0), rng.uniform(4.5, 10.0)
    else:
        width, depth, height = rng.uniform(3.5, 9.0), rng.uniform(3.5, 9.0), rng.uniform(2.4, 4.0)
    half = min(width, depth) / 2.0
    _interior(scene, width, depth, height)
    _interior_lights(scene, int(rng.integers(1, 4)), width, depth, height, big=hall)
    radius = rng.uniform(0.45, 0.8) * half
    glowing = int(rng.uniform() < 0.3)
    sizes = (0.3, 1.5) if hall else (0.15, 0.6)
    scene.props(
        ROOM_PROPS,
        (-half + 0.6, half - 0.6, -half + 0.6, half - 0.6),
        lambda centre, size: np.linalg.norm(centre) < radius - 0.4 - size,
        glowing,
        sizes,
    )
    origins, targets = _orbit(
        rng, frames, radius, (0.4, min(height - 0.4, 2.5 if not hall else 5.0)), rng.uniform(0.2, 1.2)
    )
    return SceneSpec("hall" if hall else "room", scene.objects, origins, targets, fov)


def _corridor(scene: _Scene, frames: int, fov: float) -> SceneSpec:
    rng = scene.rng
    width, length, height = rng.uniform(1.8, 3.5), rng.uniform(10.0, 25.0), rng.uniform(2.4, 3.6)
    _interior(scene, width, length, height)
    count = int(rng.integers(3, 6))
    colour = _light_colour(rng)
    for index, z in enumerate(np.linspace(-length / 2 + 1.5, length / 2 - 1.5, count)):
        half = np.array([rng.uniform(0.1, 0.35), rng.uniform(0.1, 0.6)])
        tint = colour if rng.uniform() < 0.7 else _light_colour(rng)
        to_world = translation([0.0, height - 0.01, z]) @ rotation_x(np.pi / 2) @ scale([*half, 1.0])
        scene.light(f"light_{index}", to_world, tint * _log_uniform(rng, 5.0, 30.0) / (4.0 * half.prod()))
    lane = width / 2 - 0.1
    scene.props(
        ROOM_PROPS,
        (-lane, lane, -length / 2 + 0.5, length / 2 - 0.5),
        lambda centre, size: abs(centre[0]) - size > 0.35,
        int(rng.uniform() < 0.3),
        (0.08, max(0.1, min(0.5, lane - 0.4))),
    )
    direction = np.array([0.0, -1.0]) if rng.uniform() < 0.5 else np.array([0.0, 1.0])
    start = np.array([rng.uniform(-0.15, 0.15), -direction[1] * (length / 2 - 1.0)])
    camera_height = rng.uniform(0.8, min(2.0, height - 0.4))
    origins, targets = _walk(rng, frames, start, direction, camera_height, rng.uniform(0.5, 1.8), length / 2)
    return SceneSpec("corridor", scene.objects, origins, targets, fov)


def _open_ground(scene: _Scene, frames: int, fov: float, night: bool) -> SceneSpec:
    rng = scene.rng
    ground = rotation_x(-np.pi / 2) @ scale([40, 40, 1])
    scene.rectangle("ground", ground, _GROUND_CLASSES, _log_uniform(rng, 6.0, 40.0), scene.glossy and not night)
    glowing = int(rng.integers(1, 3)) if night else 0
    radius = rng.uniform(3.0, 7.0)
    scene.props(
        OUTDOOR_PROPS,
        (-3.5, 3.5, -3.5, 3.5),
        lambda centre, size: np.linalg.norm(centre) < radius - 0.5 - size,
        glowing,
        (0.2, 0.8),
    )
    origins, targets = _orbit(rng, frames, radius, (0.3, 4.0), rng.uniform(0.1, 1.0))
    if night:
        for index in range(int(rng.integers(2, 5))):  # lamp heads facing down, a few metres up
            angle = rng.uniform(0, 2 * np.pi)
            distance = rng.uniform(0.5, 4.0)
            position = [distance * np.cos(angle), rng.uniform(1.8, 4.0), distance * np.sin(angle)]
            half = np.full(2, rng.uniform(0.05, 0.25))
            to_world = translation(position) @ rotation_x(np.pi / 2) @ scale([*half, 1.0])
            scene.light(f"lamp_{index}", to_world, _light_colour(rng) * _log_uniform(rng, 60.0, 400.0))
        sky = _log_uniform(rng, 0.001, 0.02) * np.array([rng.uniform(0.3, 0.6), rng.uniform(0.4, 0.7), 1.0])
        return SceneSpec("night", scene.objects, origins, targets, fov, sky * scene.exposure)
    elevation, azimuth = rng.uniform(np.radians(5), np.radians(85)), rng.uniform(0, 2 * np.pi)
    sun_direction = np.array(
        [np.cos(elevation) * np.cos(azimuth), np.sin(elevation), np.cos(elevation) * np.sin(azimuth)]
    )
    low_sun = 1.0 - min(1.0, np.degrees(elevation) / 40.0)  # low suns are redder
    sun_colour = np.array([1.0, rng.uniform(0.85, 0.95) - 0.25 * low_sun, rng.uniform(0.7, 0.85) - 0.4 * low_sun])
    sun_irradiance = rng.uniform(1.5, 6.0) * sun_colour * scene.exposure
    sky_radiance = rng.uniform(0.2, 1.0) * np.array([rng.uniform(0.5, 0.7), rng.uniform(0.65, 0.8), 1.0])
    return SceneSpec(
        "outdoor", scene.objects, origins, targets, fov, sky_radiance * scene.exposure, sun_direction, sun_irradiance
    )


def generate_scene(
    seed: int, clip_index: int, frames: int, texture_size: int = 64, kind: str | None = None
) -> SceneSpec:
    """The scene of clip `clip_index` for dataset seed `seed`, with a camera path of `frames` frames; `kind` (one of
    `SCENE_KINDS`) forces the scene kind instead of drawing it."""
    rng = np.random.default_rng([seed, clip_index])
    kinds = list(SCENE_KINDS)
    drawn = kinds[rng.choice(len(kinds), p=list(SCENE_KINDS.values()))]
    if kind is not None and kind not in SCENE_KINDS:
        raise ValueError(f"Unknown scene kind {kind!r}; choose one of {kinds}.")
    kind = kind or drawn
    scene = _Scene(rng, texture_size)
    fov = float(rng.uniform(30.0, 90.0))
    if kind in ("room", "hall"):
        return _room(scene, frames, fov, hall=kind == "hall")
    if kind == "corridor":
        return _corridor(scene, frames, fov)
    return _open_ground(scene, frames, fov, night=kind == "night")
