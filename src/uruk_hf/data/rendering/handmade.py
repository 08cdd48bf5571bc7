"""Hand-written scenes for out-of-distribution evaluation: layouts, lights and cameras that `generate_scene` cannot
produce, each object labelled with its material class.

The procedural generator builds one kind of room (5-9 m, two ceiling panels, six props) or open ground with seven
props under a sun, seen by a camera orbiting the centre. These scenes are what a user's engine frames look like
instead: a Cornell box seen from outside, a long corridor under a row of coloured lights with thin pillars, a street
canyon under a low sun, a close-up still life of every material class under a softbox, a night square lit only by
small lamps, a neon sign and glowing spheres, and a hall of polished metal under a skylight. They are scene
definitions, not data: `render_handmade_set` renders them through the same `ClipRenderer` as the training data (so
every buffer follows the same conventions) at any resolution, and nothing in training or model selection reads
them (`uruk evaluate` and `benchmarks/bench_ood.py` do).

`HOLDOUT_SCENES` is a second set of four, written later and held out from every change measured on the first: a
room lit through one window by a low sun, a warehouse under strip lights, a tiled bathroom with a mirror and a yard
under an overcast sky (`uruk evaluate --collection holdout`).

Each builder takes no arguments: textures are drawn from a generator seeded with the scene's index, so a scene is
the same in every process.
"""

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

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
from .scenes import SceneObject, SceneSpec

__all__ = [
    "HANDMADE_COLLECTIONS",
    "HANDMADE_FRAMES",
    "HANDMADE_SAMPLE_SEED",
    "HANDMADE_SCENES",
    "HOLDOUT_SCENES",
    "handmade_scene",
    "render_handmade_set",
]

HANDMADE_FRAMES = 3
"""Frames per scene: a short camera move, so that motion and history are exercised."""

HANDMADE_SAMPLE_SEED = 0x0D
"""The seed of the renders' random samples (1-spp path trace, `direct`, shadow rays, ground truth). Another seed
gives the same frames with other noise: `benchmarks/bench_error_scales.py --noise-split` renders one to tell a
renderer's variance from its bias."""

_TEXTURE_SIZE = 64


class _SceneBuilder:
    """Collects the objects of one hand-written scene, giving each a unique name and a random `material_id`."""

    def __init__(self, index: int):
        self.rng = np.random.default_rng([0x0D, index])
        self.ids = iter(self.rng.permutation(np.arange(1, 256)).tolist())
        self.objects: list[SceneObject] = []

    def material(self, class_name: str, colour=None, **overrides) -> MaterialSample:
        """A material of `class_name` with its class's texture; `colour` (linear RGB) replaces the texture by a
        flat colour, `overrides` set BSDF parameters (`roughness`, `metallic`, `specular`)."""
        material = sample_material(class_name, self.rng, _TEXTURE_SIZE)
        if colour is not None:
            overrides["texture"] = np.broadcast_to(np.asarray(colour, np.float32), (4, 4, 3)).copy()
        return dataclasses.replace(material, **overrides)

    def rectangle(self, name: str, to_world: np.ndarray, material: MaterialSample, uv_scale: float = 1.0) -> None:
        """A rectangle `[-1, 1]^2` facing +z placed by `to_world`."""
        self.objects.append(SceneObject(name, "rectangle", to_world, next(self.ids), material, uv_scale=uv_scale))

    def light(self, name: str, centre, half_size, radiance, facing: str = "down") -> None:
        """An emitting rectangle of half extents `half_size` at `centre`, facing `down`, `+x`, `-x`, `+z` or
        `-z`."""
        rotation = {
            "down": rotation_x(np.pi / 2),
            "+z": np.eye(4),
            "-z": rotation_y(np.pi),
            "+x": rotation_y(np.pi / 2),
            "-x": rotation_y(-np.pi / 2),
        }[facing]
        to_world = translation(centre) @ rotation @ scale([*half_size, 1.0])
        self.objects.append(SceneObject(name, "light", to_world, next(self.ids), radiance=np.asarray(radiance, float)))

    def add_mesh(self, name, kind, mesh, place, material, radiance=None, uv_scale=1.0) -> None:
        """A mesh `(vertices, faces, uvs, normals)` placed by `place`; an emitter when given `radiance`."""
        mesh = place_mesh(mesh, place)
        radiance = None if radiance is None else np.asarray(radiance, float)
        self.objects.append(
            SceneObject(name, kind, np.eye(4), next(self.ids), material, mesh, radiance=radiance, uv_scale=uv_scale)
        )

    def box(self, name, centre, size, material, angle=0.0, uv_scale=1.0) -> None:
        """A box of `size` (x, y, z) whose bottom face is centred at `centre`, turned `angle` about +y."""
        half_x, height, half_z = size[0] / 2, size[1], size[2] / 2
        polygon = np.array([[-half_x, -half_z], [half_x, -half_z], [half_x, half_z], [-half_x, half_z]])
        place = translation(centre) @ rotation_y(angle)
        self.add_mesh(name, "box", extruded_polygon_mesh(polygon, height), place, material, uv_scale=uv_scale)

    def cylinder(self, name, centre, radius, height, material, uv_scale=1.0) -> None:
        """An upright cylinder standing at `centre`."""
        angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        polygon = np.column_stack([np.cos(angles), np.sin(angles)]) * radius
        mesh = extruded_polygon_mesh(polygon, height, smooth_sides=True)
        self.add_mesh(name, "cylinder", mesh, translation(centre), material, uv_scale=uv_scale)

    def sphere(self, name, centre, radius, material=None, radiance=None) -> None:
        """A sphere resting with its lowest point at `centre`; with `radiance` it is an emitter (no class)."""
        mesh = displaced_sphere_mesh(radius, self.rng, roughness=0.0)
        self.add_mesh(name, "sphere", mesh, translation(centre), material, radiance=radiance)

    def scene(self, kind, origins, targets, fov, sky=None, sun_direction=None, sun_irradiance=None) -> SceneSpec:
        def vector(value):
            return None if value is None else np.asarray(value, float)

        direction = vector(sun_direction)
        return SceneSpec(
            kind,
            self.objects,
            np.asarray(origins, float),
            np.asarray(targets, float),
            float(fov),
            vector(sky),
            None if direction is None else direction / np.linalg.norm(direction),
            vector(sun_irradiance),
        )


def _floor(width: float, depth: float, y: float = 0.0, centre_z: float = 0.0) -> np.ndarray:
    return translation([0, y, centre_z]) @ rotation_x(-np.pi / 2) @ scale([width / 2, depth / 2, 1])


def _ceiling(width: float, depth: float, y: float, centre_z: float = 0.0) -> np.ndarray:
    return translation([0, y, centre_z]) @ rotation_x(np.pi / 2) @ scale([width / 2, depth / 2, 1])


def _wall(centre, facing: str, width: float, height: float) -> np.ndarray:
    angle = {"+z": 0.0, "-z": np.pi, "+x": np.pi / 2, "-x": -np.pi / 2}[facing]
    return translation(centre) @ rotation_y(angle) @ scale([width / 2, height / 2, 1])


def _room_walls(
    build: _SceneBuilder, width: float, depth: float, height: float, material: MaterialSample, uv_scale: float
) -> None:
    """The four inward-facing walls of a `width` (x) by `depth` (z) room centred on the origin, in the order north
    (-z), south, west (-x), east."""
    for name, centre, facing, extent in (
        ("wall_north", [0, height / 2, -depth / 2], "+z", width),
        ("wall_south", [0, height / 2, depth / 2], "-z", width),
        ("wall_west", [-width / 2, height / 2, 0], "+x", depth),
        ("wall_east", [width / 2, height / 2, 0], "-x", depth),
    ):
        build.rectangle(name, _wall(centre, facing, extent, height), material, uv_scale)


def _dolly(start, end, target_start, target_end):
    """Origins and targets of a straight camera move over `HANDMADE_FRAMES` frames."""
    steps = np.linspace(0.0, 1.0, HANDMADE_FRAMES)[:, None]
    origins = np.asarray(start) + steps * (np.asarray(end) - np.asarray(start))
    targets = np.asarray(target_start) + steps * (np.asarray(target_end) - np.asarray(target_start))
    return origins, targets


def cornell_box() -> SceneSpec:
    """The Cornell box (2 m, red and green side walls, one small warm ceiling light, a tall mirror-like metal block
    and a short stone block), seen from outside through its open front: black around it, colour bleeding inside."""
    build = _SceneBuilder(0)
    white = build.material("plastic", colour=[0.73, 0.71, 0.68], roughness=0.9, metallic=0.0)
    build.rectangle("floor", _floor(2, 2), white)
    build.rectangle("ceiling", _ceiling(2, 2, 2.0), white)
    build.rectangle("back", _wall([0, 1, -1], "+z", 2, 2), white)
    build.rectangle("left", _wall([-1, 1, 0], "+x", 2, 2), build.material("plastic", colour=[0.63, 0.065, 0.05]))
    build.rectangle("right", _wall([1, 1, 0], "-x", 2, 2), build.material("plastic", colour=[0.14, 0.45, 0.09]))
    build.light("light", [0, 1.99, 0], [0.25, 0.2], [17.0, 12.0, 4.0])
    metal = build.material("metal", roughness=0.08, metallic=1.0)
    build.box("tall_block", [-0.33, 0, -0.3], [0.6, 1.2, 0.6], metal, angle=0.3)
    build.box("short_block", [0.35, 0, 0.3], [0.6, 0.6, 0.6], build.material("stone"), angle=-0.3)
    origins, targets = _dolly([-0.12, 1.0, 3.6], [0.12, 1.05, 3.5], [0, 1.0, 0], [0, 1.0, 0])
    return build.scene("cornell_box", origins, targets, 40)


def pillared_corridor() -> SceneSpec:
    """A 2.4 m wide, 18 m long corridor under five small ceiling lights alternating warm and cool, thin metal
    pillars along both walls and a wooden door at the end; the camera walks down it."""
    build = _SceneBuilder(1)
    length, width, height, centre = 18.0, 2.4, 2.8, -6.0
    build.rectangle("floor", _floor(width, length, centre_z=centre), build.material("ceramic"), uv_scale=12)
    build.rectangle("ceiling", _ceiling(width, length, height, centre), build.material("plastic"), uv_scale=4)
    walls = build.material("painted_metal")
    build.rectangle("wall_left", _wall([-width / 2, height / 2, centre], "+x", length, height), walls, 8)
    build.rectangle("wall_right", _wall([width / 2, height / 2, centre], "-x", length, height), walls, 8)
    build.rectangle("wall_end", _wall([0, height / 2, centre - length / 2], "+z", width, height), walls, 2)
    build.rectangle("wall_back", _wall([0, height / 2, centre + length / 2], "-z", width, height), walls, 2)
    for index, z in enumerate([1.0, -2.5, -6.0, -9.5, -13.0]):
        colour = [1.0, 0.75, 0.45] if index % 2 == 0 else [0.55, 0.75, 1.0]
        build.light(f"light_{index}", [0, height - 0.01, z], [0.2, 0.45], np.array(colour) * 14.0)
    pillar = build.material("metal", roughness=0.3)
    for index, z in enumerate(np.arange(0.5, -14.0, -2.0)):
        for side in (-1, 1):
            build.cylinder(f"pillar_{index}_{side}", [side * (width / 2 - 0.12), 0, z], 0.04, height, pillar)
    build.box("door", [0, 0, centre - length / 2 + 0.05], [1.0, 2.1, 0.1], build.material("wood"))
    build.box("crate", [0.7, 0, -4.0], [0.5, 0.5, 0.5], build.material("wood"), angle=0.4)
    build.box("bench", [-0.85, 0, -8.0], [0.4, 0.45, 1.6], build.material("fabric"))
    origins, targets = _dolly([0.3, 1.6, 2.0], [0.25, 1.6, 1.4], [0.0, 1.3, -12.0], [-0.1, 1.3, -12.0])
    return build.scene("pillared_corridor", origins, targets, 70)


def street() -> SceneSpec:
    """A street canyon: buildings of 4 to 10 m on both sides, raised sidewalks, thin lamp posts and a parked van,
    under a low evening sun and a blue sky; the camera pans at eye height."""
    build = _SceneBuilder(2)
    build.rectangle("road", _floor(60, 60), build.material("stone", colour=[0.08, 0.08, 0.085]), 20)
    for side in (-1, 1):
        build.box(f"sidewalk_{side}", [side * 4.25, 0, -8], [2.5, 0.15, 40], build.material("ceramic"), uv_scale=10)
        for index, z in enumerate(np.arange(6.0, -26.0, -6.5)):
            height = float(build.rng.uniform(4.0, 10.0))
            material = build.material(("stone", "painted_metal", "ceramic")[index % 3])
            build.box(f"building_{side}_{index}", [side * 8.5, 0, z], [6.0, height, 6.0], material, uv_scale=4)
        for index, z in enumerate(np.arange(3.0, -25.0, -7.0)):
            build.cylinder(f"lamp_post_{side}_{index}", [side * 3.3, 0.15, z], 0.06, 3.8, build.material("metal"))
    build.box("van", [-2.0, 0, -5.0], [1.9, 1.9, 4.6], build.material("painted_metal"), uv_scale=2)
    build.box("bin", [2.9, 0.15, 0.0], [0.5, 1.0, 0.5], build.material("rubber"))
    origins, targets = _dolly([0.6, 1.7, 9.0], [0.6, 1.7, 8.6], [0.4, 2.2, -10.0], [-0.6, 2.2, -10.0])
    return build.scene(
        "street", origins, targets, 60, sky=[0.35, 0.5, 0.9], sun_direction=[-0.9, 0.28, -0.35],
        sun_irradiance=[4.5, 3.2, 1.9],
    )  # fmt: skip


def still_life() -> SceneSpec:
    """A close-up still life: one object of every material class on a wooden table in front of a fabric
    backdrop, lit from the side by a large softbox with a small cool fill; narrow field of view."""
    build = _SceneBuilder(3)
    build.rectangle("floor", _floor(8, 8), build.material("stone"), 6)
    build.rectangle("backdrop", _wall([0, 2, -1.2], "+z", 8, 4), build.material("fabric"), 6)
    build.box("table", [0, 0, 0], [2.4, 0.8, 1.4], build.material("wood"), uv_scale=2)
    top = 0.8
    build.sphere("metal_sphere", [-0.8, top, 0.1], 0.18, build.material("metal", roughness=0.05, metallic=1.0))
    build.cylinder("vase", [-0.35, top, -0.25], 0.12, 0.45, build.material("ceramic", roughness=0.05))
    build.sphere("rubber_ball", [0.05, top, 0.3], 0.12, build.material("rubber"))
    build.box("plastic_cube", [0.45, top, -0.1], [0.25, 0.25, 0.25], build.material("plastic"), angle=0.6)
    build.box("cushion", [0.85, top, 0.25], [0.4, 0.12, 0.35], build.material("fabric"), angle=-0.3)
    rock = displaced_sphere_mesh(0.14, build.rng)
    build.add_mesh("rock", "rock", rock, translation([-0.2, top, 0.45]), build.material("stone"))
    build.cylinder("can", [0.2, top, -0.4], 0.07, 0.25, build.material("painted_metal"))
    build.box("block", [-0.7, top, -0.35], [0.3, 0.15, 0.15], build.material("wood"), angle=0.2)
    build.light("softbox", [2.6, 1.6, 0.6], [0.8, 0.8], [9.0, 8.6, 8.0], facing="-x")
    build.light("fill", [-2.5, 1.4, 1.5], [0.3, 0.3], [2.0, 2.4, 3.0], facing="+x")
    origins, targets = _dolly([-0.25, 1.45, 2.3], [0.25, 1.4, 2.25], [0, 0.95, 0], [0, 0.95, 0])
    return build.scene("still_life", origins, targets, 38)


def night_square() -> SceneSpec:
    """A square at night: a dark sky, no sun; light comes only from small lamps on posts, a magenta neon sign, a
    lit window and glowing spheres, so most of the frame is dark with small, saturated, bright sources."""
    build = _SceneBuilder(4)
    build.rectangle("ground", _floor(40, 40), build.material("stone"), 16)
    build.rectangle("facade", _wall([0, 3, -4], "+z", 14, 6), build.material("stone"), 5)
    build.light("neon", [-1.5, 2.6, -3.98], [0.9, 0.12], [30.0, 4.0, 26.0], facing="+z")
    build.light("window", [2.5, 2.0, -3.98], [0.5, 0.6], [7.0, 5.0, 2.5], facing="+z")
    for index, x in enumerate([-3.0, 0.5, 3.5]):
        build.cylinder(f"post_{index}", [x, 0, -1.0 + index], 0.05, 2.4, build.material("painted_metal"))
        build.light(f"lamp_{index}", [x, 2.41, -1.0 + index], [0.12, 0.12], [60.0, 38.0, 14.0])
    build.sphere("orb_green", [-1.0, 0.0, 0.8], 0.12, radiance=[2.0, 25.0, 6.0])
    build.sphere("orb_blue", [1.6, 0.0, 1.2], 0.1, radiance=[3.0, 8.0, 30.0])
    build.box("bench", [-1.6, 0, 0.2], [1.6, 0.45, 0.5], build.material("wood"), angle=0.15)
    build.cylinder("bin", [2.3, 0, 0.0], 0.25, 0.9, build.material("metal"))
    build.box("planter", [0.3, 0, -2.2], [1.2, 0.6, 0.6], build.material("ceramic"))
    origins, targets = _dolly([-0.4, 1.6, 5.5], [0.2, 1.6, 5.3], [0, 1.0, -2.0], [0, 1.0, -2.0])
    return build.scene("night_square", origins, targets, 62, sky=[0.004, 0.006, 0.015])


def metal_hall() -> SceneSpec:
    """A 20 m hall with a polished metal floor, mirror-like columns and spheres, lit by one large skylight:
    a glossy, metallic-dominated open space where reflections carry most of the image."""
    build = _SceneBuilder(5)
    size, height = 20.0, 7.0
    build.rectangle("floor", _floor(size, size), build.material("metal", roughness=0.12, metallic=1.0), 10)
    build.rectangle("ceiling", _ceiling(size, size, height), build.material("plastic"), 4)
    _room_walls(build, size, size, height, build.material("ceramic"), 6)
    build.light("skylight", [0, height - 0.01, -2], [3.0, 2.0], [6.0, 6.5, 7.5])
    column = build.material("metal", roughness=0.05, metallic=1.0)
    for index, (x, z) in enumerate([(-4, -6), (4, -6), (-4, 2), (4, 2)]):
        build.cylinder(f"column_{index}", [x, 0, z], 0.4, height, column)
    build.sphere("chrome_sphere", [-1.2, 0, -3.0], 0.7, build.material("metal", roughness=0.02, metallic=1.0))
    build.sphere("gold_sphere", [1.5, 0, -4.5], 0.5, build.material("metal", colour=[0.9, 0.6, 0.2], metallic=1.0))
    build.box("plinth", [0.2, 0, -1.0], [1.0, 0.6, 1.0], build.material("stone"))
    origins, targets = _dolly([2.0, 1.8, 7.0], [1.4, 1.8, 6.8], [0, 1.2, -5.0], [0, 1.2, -5.0])
    return build.scene("metal_hall", origins, targets, 65)


def sunlit_room() -> SceneSpec:
    """A living room lit by a low sun through one window in its back wall and by the sky beyond it: a hard-edged
    sun patch on a rug and sofa, the rest of the room lit only by light bounced off it; a wide-angle camera."""
    build = _SceneBuilder(6)
    width, depth, height = 6.0, 5.0, 2.8
    build.rectangle("floor", _floor(width, depth), build.material("wood"), 5)
    build.rectangle("ceiling", _ceiling(width, depth, height), build.material("plastic", colour=[0.8, 0.8, 0.78]))
    walls = build.material("plastic", colour=[0.7, 0.62, 0.5], roughness=0.8)
    build.rectangle("wall_left", _wall([-width / 2, height / 2, 0], "+x", depth, height), walls)
    build.rectangle("wall_right", _wall([width / 2, height / 2, 0], "-x", depth, height), walls)
    build.rectangle("wall_front", _wall([0, height / 2, depth / 2], "-z", width, height), walls)
    # The back wall is four slabs around a 1.6 x 1.4 m window whose sill is 0.8 m up.
    back, thickness = -depth / 2 - 0.1, 0.2
    slab = build.material("plastic", colour=[0.7, 0.62, 0.5], roughness=0.8)
    build.box("wall_back_left", [-1.95, 0, back], [2.1, height, thickness], slab)
    build.box("wall_back_right", [1.95, 0, back], [2.1, height, thickness], slab)
    build.box("wall_back_sill", [0, 0, back], [1.8, 0.8, thickness], slab)
    build.box("wall_back_lintel", [0, 2.2, back], [1.8, height - 2.2, thickness], slab)
    build.rectangle("ground_outside", _floor(40, 30, y=-0.01, centre_z=-18), build.material("stone"), 12)
    build.rectangle("rug", _floor(2.2, 1.6, y=0.005, centre_z=0.3), build.material("fabric"), 2)
    build.box("sofa_seat", [-1.6, 0, -0.6], [0.9, 0.45, 2.0], build.material("fabric"))
    build.box("sofa_back", [-1.95, 0, -0.6], [0.2, 0.85, 2.0], build.material("fabric"))
    build.box("coffee_table", [0.2, 0, 0.3], [1.0, 0.4, 0.6], build.material("wood"), angle=0.1)
    build.cylinder("lamp_stand", [2.2, 0, -1.6], 0.03, 1.5, build.material("metal", roughness=0.2))
    build.cylinder("pot", [1.8, 0, 1.6], 0.22, 0.5, build.material("ceramic"))
    build.sphere("ball", [0.9, 0, 1.0], 0.15, build.material("rubber"))
    origins, targets = _dolly([1.6, 1.5, 2.2], [1.3, 1.5, 2.1], [-0.6, 0.9, -1.8], [-0.8, 0.9, -1.8])
    return build.scene(
        "sunlit_room", origins, targets, 75, sky=[0.45, 0.6, 0.95], sun_direction=[0.3, 0.6, -0.74],
        sun_irradiance=[14.0, 12.0, 9.0],
    )  # fmt: skip


def warehouse() -> SceneSpec:
    """A 24 m warehouse under two rows of long, narrow strip lights: concrete floor, aisles of thin metal
    shelving, stacks of crates at several heights and a parked cart; the camera looks down an aisle."""
    build = _SceneBuilder(7)
    length, width, height = 24.0, 14.0, 8.0
    build.rectangle("floor", _floor(width, length), build.material("stone", colour=[0.35, 0.34, 0.32]), 10)
    build.rectangle("ceiling", _ceiling(width, length, height), build.material("painted_metal"), 6)
    _room_walls(build, width, length, height, build.material("painted_metal"), 6)
    for row, x in enumerate((-3.0, 3.0)):
        for index, z in enumerate((-8.0, -2.0, 4.0)):
            build.light(f"strip_{row}_{index}", [x, height - 0.02, z], [0.06, 2.5], [40.0, 40.0, 36.0])
    shelf = build.material("painted_metal", colour=[0.1, 0.25, 0.6])
    crate = build.material("wood")
    for side in (-1, 1):
        x = side * 1.8
        for index, z in enumerate(np.arange(-9.0, 6.0, 3.0)):
            build.box(f"upright_{side}_{index}", [x, 0, z], [0.06, 3.2, 0.06], shelf)
        for level, y in enumerate((0.1, 1.2, 2.3)):
            build.box(f"shelf_{side}_{level}", [x + side * 0.45, y, -1.5], [1.0, 0.05, 15.0], shelf)
        for index, z in enumerate(np.arange(-8.0, 5.0, 1.6)):
            levels = int(build.rng.integers(1, 4))
            for level in range(levels):
                size, angle = float(build.rng.uniform(0.5, 0.8)), float(build.rng.uniform(-0.2, 0.2))
                centre = [x + side * 0.45, (0.15, 1.25, 2.35)[level], z]
                build.box(f"crate_{side}_{index}_{level}", centre, [size, size * 0.8, size], crate, angle=angle)
    build.box("cart", [0.3, 0, -3.0], [0.8, 0.9, 1.4], build.material("metal", roughness=0.3), angle=0.2)
    build.cylinder("drum", [-0.5, 0, -6.0], 0.3, 0.9, build.material("painted_metal", colour=[0.7, 0.15, 0.05]))
    origins, targets = _dolly([0.2, 1.7, 7.0], [0.0, 1.7, 6.2], [0.0, 1.4, -10.0], [0.3, 1.4, -10.0])
    return build.scene("warehouse", origins, targets, 60)


def tiled_bathroom() -> SceneSpec:
    """A small tiled bathroom: glossy ceramic walls and floor, a mirror above a basin that shows the room again,
    a bathtub, a towel and a rubber mat, lit by a warm strip above the mirror and a cool ceiling light."""
    build = _SceneBuilder(8)
    size, height = 2.6, 2.5
    tiles = build.material("ceramic", colour=[0.78, 0.8, 0.8], roughness=0.15)
    build.rectangle("floor", _floor(size, size), build.material("ceramic", roughness=0.3), 8)
    build.rectangle("ceiling", _ceiling(size, size, height), build.material("plastic", colour=[0.85, 0.85, 0.85]))
    _room_walls(build, size, size, height, tiles, 6)
    mirror = build.material("metal", colour=[0.95, 0.95, 0.95], roughness=0.01, metallic=1.0)
    build.rectangle("mirror", _wall([0.5, 1.55, -size / 2 + 0.01], "+z", 0.9, 0.8), mirror)
    build.light("vanity", [0.5, 2.05, -size / 2 + 0.03], [0.4, 0.04], [20.0, 14.0, 8.0], facing="+z")
    build.light("ceiling_light", [0, height - 0.01, 0.3], [0.2, 0.2], [6.0, 7.0, 8.5])
    build.box("basin", [0.5, 0.7, -size / 2 + 0.25], [0.6, 0.18, 0.45], build.material("ceramic", roughness=0.05))
    build.cylinder("tap", [0.5, 0.88, -size / 2 + 0.08], 0.02, 0.18, build.material("metal", roughness=0.05))
    build.box("bathtub", [-0.7, 0, -0.2], [1.1, 0.55, 2.0], build.material("ceramic", roughness=0.05))
    build.box("towel", [1.25, 0.9, 0.5], [0.05, 0.6, 0.45], build.material("fabric"))
    build.rectangle("mat", _floor(0.8, 0.5, y=0.005, centre_z=0.6), build.material("rubber"))
    build.cylinder("bin", [1.0, 0, 1.0], 0.12, 0.3, build.material("painted_metal"))
    origins, targets = _dolly([0.9, 1.6, 1.15], [0.7, 1.6, 1.1], [-0.2, 0.9, -1.0], [0.1, 0.9, -1.0])
    return build.scene("tiled_bathroom", origins, targets, 80)


def overcast_yard() -> SceneSpec:
    """A back yard under a bright overcast sky and a faint, high, hazy sun: soft light, contact shadows, a picket
    fence of thin slats, a wooden shed, plastic chairs round a table, a tyre and a metal bucket; the camera looks
    down at it."""
    build = _SceneBuilder(9)
    build.rectangle("ground", _floor(50, 50), build.material("stone", colour=[0.22, 0.24, 0.18]), 20)
    build.rectangle("patio", _floor(4, 4, y=0.005, centre_z=0.5), build.material("ceramic"), 4)
    fence = build.material("wood", colour=[0.75, 0.72, 0.65])
    for index, x in enumerate(np.arange(-6.0, 6.01, 0.25)):
        build.box(f"slat_{index}", [x, 0, -4.0], [0.1, 1.1, 0.03], fence)
    build.box("rail", [0, 0.7, -4.05], [12.2, 0.08, 0.04], fence)
    build.box("shed", [-3.5, 0, -2.5], [2.2, 2.1, 1.8], build.material("wood"), angle=0.1, uv_scale=2)
    build.box("table", [0.3, 0, 0.4], [1.0, 0.72, 1.0], build.material("plastic", colour=[0.9, 0.9, 0.88]))
    for index, (x, z, angle) in enumerate([(-0.6, 0.5, 0.2), (1.2, 0.3, -0.3), (0.4, 1.3, 1.5)]):
        chair = build.material("plastic", colour=[[0.1, 0.45, 0.2], [0.8, 0.3, 0.05], [0.1, 0.2, 0.7]][index])
        build.box(f"chair_{index}", [x, 0, z], [0.45, 0.45, 0.45], chair, angle=angle)
    build.cylinder("tyre", [2.5, 0, -1.5], 0.35, 0.22, build.material("rubber"))
    build.cylinder("bucket", [-1.6, 0, 1.6], 0.15, 0.3, build.material("metal", roughness=0.35))
    build.box("bench", [2.2, 0, 1.8], [1.4, 0.45, 0.4], build.material("stone"), angle=-0.5)
    origins, targets = _dolly([1.5, 3.0, 5.5], [0.9, 3.0, 5.6], [0, 0.4, -0.5], [0, 0.4, -0.5])
    return build.scene(
        "overcast_yard", origins, targets, 55, sky=[0.85, 0.88, 0.95], sun_direction=[0.25, 0.92, 0.3],
        sun_irradiance=[0.7, 0.7, 0.72],
    )  # fmt: skip


HANDMADE_SCENES: dict[str, Callable[[], SceneSpec]] = {
    "cornell_box": cornell_box,
    "pillared_corridor": pillared_corridor,
    "street": street,
    "still_life": still_life,
    "night_square": night_square,
    "metal_hall": metal_hall,
}
"""Every hand-written evaluation scene by name, in evaluation order."""

HOLDOUT_SCENES: dict[str, Callable[[], SceneSpec]] = {
    "sunlit_room": sunlit_room,
    "warehouse": warehouse,
    "tiled_bathroom": tiled_bathroom,
    "overcast_yard": overcast_yard,
}
"""A second, smaller set of hand-written scenes, held out like the first: `uruk evaluate --collection holdout`
checks a claim made on `HANDMADE_SCENES` on scenes that were not looked at while making it (two of them, a room lit
through a window and a glossy bathroom, are lit mostly by indirect light)."""


HANDMADE_COLLECTIONS: dict[str, dict[str, Callable[[], SceneSpec]]] = {
    "evaluation": HANDMADE_SCENES,
    "holdout": HOLDOUT_SCENES,
}
"""The two sets of hand-written scenes by name; nothing in training or model selection reads either."""


def handmade_scene(name: str) -> SceneSpec:
    """The hand-written scene `name`, from `HANDMADE_SCENES` or `HOLDOUT_SCENES`.

    Raises:
        ValueError: no such scene.
    """
    for scenes in HANDMADE_COLLECTIONS.values():
        if name in scenes:
            return scenes[name]()
    known = [name for scenes in HANDMADE_COLLECTIONS.values() for name in scenes]
    raise ValueError(f"Unknown hand-made scene {name!r}; choose from {known}.")


def render_handmade_set(
    output: str | Path,
    size: int,
    ground_truth_spp: int = 256,
    variant: str | None = None,
    overwrite: bool = False,
    sample_seed: int = HANDMADE_SAMPLE_SEED,
    collection: str = "evaluation",
) -> Path:
    """Renders every scene of a `HANDMADE_COLLECTIONS` entry (`evaluation`: `HANDMADE_SCENES`, `holdout`:
    `HOLDOUT_SCENES`) at `size` x `size` into a dataset folder with one `test` split,
    in the format of `uruk data generate` (the same buffers, ground truth, independent ground-truth re-render and
    labels), so every evaluation of the library reads it. Returns the folder. `sample_seed` seeds the random
    samples only: the scenes, cameras and G-buffer are the same for every seed.

    A folder already holding this set at the same settings is reused; one at other settings is refused unless
    `overwrite`. The folder's `handmade.json` records the scenes, size, spp, sample seed and Mitsuba version (a
    record without a sample seed was rendered with `HANDMADE_SAMPLE_SEED`).

    Raises:
        FileExistsError: `output` holds something else.
        ValueError: an unknown `collection`.
    """
    if collection not in HANDMADE_COLLECTIONS:
        raise ValueError(f"Unknown hand-made collection {collection!r}; choose from {list(HANDMADE_COLLECTIONS)}.")
    scenes = HANDMADE_COLLECTIONS[collection]
    from datasets import Dataset

    from ..folder import quiet_datasets
    from .generator import GBUFFER_CLIPS, DataPreset, clip_rows
    from .render import ClipRenderer, RenderSettings, select_variant

    output = Path(output)
    record_path, data_path = output / "handmade.json", output / "data" / "test-00000.parquet"
    mitsuba_variant = select_variant(variant)
    import mitsuba

    record = {
        "kind": "handmade_scenes",
        "scenes": list(scenes),
        "size": size,
        "frames_per_scene": HANDMADE_FRAMES,
        "ground_truth_spp": ground_truth_spp,
        "mitsuba_version": mitsuba.__version__,
        "mitsuba_variant": mitsuba_variant,
        "sample_seed": sample_seed,
    }
    if record_path.exists() and data_path.exists():
        existing = {"sample_seed": HANDMADE_SAMPLE_SEED, **json.loads(record_path.read_text())}
        if all(existing.get(key) == value for key, value in record.items() if key != "mitsuba_variant"):
            return output
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{output} is not empty and does not hold the hand-made {collection} set at size {size}, "
            f"{ground_truth_spp} spp and sample seed {sample_seed}; "
            "pass overwrite=True (--overwrite) to replace it."
        )
    settings = RenderSettings(size, size, ground_truth_spp=ground_truth_spp)
    preset = DataPreset("handmade", len(scenes), HANDMADE_FRAMES, len(scenes), settings)
    renderer = ClipRenderer(settings)
    rows = []
    for index, (name, build_scene) in enumerate(scenes.items()):
        spec = build_scene()
        frames = renderer.render_clip(spec, seed=sample_seed, clip_index=index, independent_ground_truth=True)
        rows += clip_rows(frames, index, name, preset)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    partial = data_path.with_suffix(".parquet.partial")
    with quiet_datasets():
        Dataset.from_list(rows, features=GBUFFER_CLIPS.features(preset)).to_parquet(str(partial))
    partial.replace(data_path)
    record["render_seconds"] = round(renderer.render_seconds, 1)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return output
