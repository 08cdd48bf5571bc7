"""Rendering a `SceneSpec` clip with Mitsuba 3 into every buffer of DESIGN §2, plus ground truth and labels.

- The G-buffer is point-sampled at pixel centres like a rasterizer: one primary ray per pixel from the sensor's
  `sample_ray`, one `scene.ray_intersect`; the object under a pixel is found by comparing `si.shape` with each of
  `scene.shapes()`, and per-object values (roughness, metallic, specular, emission, ids, classes) come from the
  scene spec. Albedo is the BSDF's textured diffuse reflectance (`eval_diffuse_reflectance`).
- `direct` is Mitsuba's `direct` integrator at `direct_spp`; `path_1spp` the `path` integrator at 1 spp; the
  ground truth the `path` integrator at `ground_truth_spp`; `path_half` the `path` integrator at
  `half_resolution_spp` through a second sensor of the same camera with half the film width and height (each of its
  pixels repeated 2x2 to the frame's size); all with a box reconstruction filter (a Gaussian filter would
  correlate noise across pixels).
- `ao` renders the same geometry with white diffuse BSDFs, no emitters and a unit constant environment through the
  `direct` integrator: cosine-weighted visibility. `shadow` casts `shadow_samples` rays per pixel to the strongest
  light (an area light's surface, or the sun's direction).
- `motion` reprojects each pixel's surface point into the previous camera; `history_valid` is 1 where that lands
  inside the previous frame on the same object at the same distance.

Vectorized variants (`llvm_ad_rgb`, `cuda_ad_rgb`) cast all rays of a buffer in one call; `scalar_rgb` loops.
"""

import functools
import glob
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from .geometry import project_points
from .scenes import SceneSpec

__all__ = ["ClipRenderer", "RenderSettings", "find_libllvm", "probe_variant", "select_variant"]

_PROBE = "import mitsuba as mi; mi.set_variant('{variant}'); mi.render(mi.load_dict(mi.cornell_box()), spp=1)"
_NO_LABEL = -100


def find_libllvm() -> str | None:
    """Path of a libLLVM >= 16 for Dr.Jit's LLVM backend: `DRJIT_LIBLLVM_PATH` if set, else the newest one in the
    system library folders (Debian: `apt-get install libllvm19`), else `None`."""
    if os.environ.get("DRJIT_LIBLLVM_PATH"):
        return os.environ["DRJIT_LIBLLVM_PATH"]
    candidates = []
    for path in glob.glob("/usr/lib/*/libLLVM*.so*") + glob.glob("/usr/lib/llvm-*/lib/libLLVM*.so*"):
        match = re.search(r"libLLVM[-.](?:so\.)?(\d+)", os.path.basename(path))
        if match and int(match.group(1)) >= 16:
            candidates.append((int(match.group(1)), path))
    return max(candidates)[1] if candidates else None


def probe_variant(variant: str) -> bool:
    """Whether `variant` renders in a fresh process (an old libLLVM aborts the whole process, so never in ours),
    run with this process's environment plus `DRJIT_LIBLLVM_PATH` from `find_libllvm`."""
    env = dict(os.environ)
    libllvm = find_libllvm()
    if libllvm:
        env["DRJIT_LIBLLVM_PATH"] = libllvm
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE.format(variant=variant)], env=env, capture_output=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


@functools.cache
def select_variant(requested: str | None = None) -> str:
    """Sets and returns the Mitsuba variant: `requested` (or `URUK_MITSUBA_VARIANT`) when given, otherwise the
    first of `cuda_ad_rgb` (when a GPU is visible), `llvm_ad_rgb` (with libLLVM >= 16), `scalar_rgb` that renders
    in a probe subprocess. Prints which variant runs and why.

    Raises:
        ValueError: the requested variant is not a Mitsuba RGB variant or fails its probe.
    """
    import mitsuba as mi

    requested = requested or os.environ.get("URUK_MITSUBA_VARIANT")
    libllvm = find_libllvm()
    if libllvm:
        os.environ["DRJIT_LIBLLVM_PATH"] = libllvm
    if requested:
        if requested not in mi.variants():
            raise ValueError(f"Unknown Mitsuba variant {requested!r}; available: {mi.variants()}.")
        if requested != "scalar_rgb" and not probe_variant(requested):
            raise ValueError(f"Mitsuba variant {requested!r} does not run here (libLLVM: {libllvm}).")
        candidates, reason = [requested], "requested"
    else:
        candidates = ["llvm_ad_rgb", "scalar_rgb"]
        if os.path.exists("/dev/nvidia0") or os.environ.get("CUDA_VISIBLE_DEVICES"):
            candidates.insert(0, "cuda_ad_rgb")
        reason = "probed"
    for variant in candidates:
        if variant == "scalar_rgb" or variant == requested or probe_variant(variant):
            mi.set_variant(variant)
            details = [reason] + ([f"libLLVM {libllvm}"] if libllvm and "llvm" in variant else [])
            if variant == "scalar_rgb" and not requested:
                details.append("llvm_ad_rgb unavailable: apt-get install libllvm19 for a ~3x faster renderer")
            print(f"Mitsuba {mi.__version__} variant: {variant} ({'; '.join(details)})", file=sys.stderr)
            return variant
    raise AssertionError("scalar_rgb is always available")


@dataclass(frozen=True)
class RenderSettings:
    """What to render per frame.

    Attributes:
        width, height (`int`): frame size in pixels.
        ground_truth_spp (`int`): path-tracer samples per pixel of the ground truth.
        direct_spp (`int`): samples per pixel of the `direct` buffer (16 in DESIGN §2).
        ao_samples (`int`): cosine-distributed ambient-occlusion rays per pixel.
        ao_radius (`float`): occluders farther than this (scene units, metres) do not count. Without a radius a
            closed room would be fully occluded everywhere.
        shadow_samples (`int`): shadow rays per pixel towards the strongest area light.
        max_depth (`int`): path length limit of the path tracer (ground truth, `path_1spp`, `path_half`).
        half_resolution_spp (`int`): samples per pixel of the half-resolution render `path_half`.
    """

    width: int
    height: int
    ground_truth_spp: int
    direct_spp: int = 16
    ao_samples: int = 16
    ao_radius: float = 1.0
    shadow_samples: int = 8
    max_depth: int = 8
    half_resolution_spp: int = 4


def _sensor_id(frame: int, divisor: int) -> str:
    return f"sensor_{frame:03d}" if divisor == 1 else f"sensor_{frame:03d}_div{divisor}"


def _render_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(part) for part in parts]).generate_state(1)[0])


class ClipRenderer:
    """Renders the frames of a clip. `render_seconds` accumulates the time spent inside `mi.render` (for the
    generator's overhead measurement)."""

    def __init__(self, settings: RenderSettings):
        import mitsuba as mi

        self.mi = mi
        self.settings = settings
        self.vectorized = not mi.variant().startswith("scalar")
        self.render_seconds = 0.0
        self.render_samples = 0
        self.path = mi.load_dict({"type": "path", "max_depth": settings.max_depth})
        self.direct = mi.load_dict({"type": "direct"})
        self.visible_emission = mi.load_dict({"type": "path", "max_depth": 1})

    # Scene construction -------------------------------------------------------------------------------------
    def _bsdf(self, obj) -> dict:
        if obj.material is None:
            return {"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.0}}
        material = obj.material
        return {
            "type": "principled",
            "base_color": {"type": "bitmap", "bitmap": self.mi.Bitmap(material.texture), "raw": True},
            "metallic": material.metallic,
            "roughness": material.roughness,
            "specular": material.specular,
            "sheen": material.sheen,
        }

    def _shape(self, obj):
        """Every shape is a triangle mesh with the texture tiling baked into its uvs. Mitsuba bakes a bitmap's
        `to_uv` and a primitive's transform into the kernel as constants, so per-object values there would make
        Dr.Jit recompile the renderer for every scene; mesh buffers are data and keep one kernel."""
        mi = self.mi
        if obj.mesh is not None:
            vertices, faces, uvs, normals = obj.mesh
        else:  # a rectangle [-1, 1]^2 facing +z, placed by to_world
            corners = np.array([[-1, -1, 0, 1], [1, -1, 0, 1], [1, 1, 0, 1], [-1, 1, 0, 1]], float) @ obj.to_world.T
            vertices, faces = corners[:, :3], np.array([[0, 1, 2], [0, 2, 3]])
            uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
            normal = obj.to_world[:3, 2] / np.linalg.norm(obj.to_world[:3, 2])
            normals = np.repeat(normal[None], 4, axis=0)
        properties = mi.Properties()
        properties["bsdf"] = mi.load_dict(self._bsdf(obj))
        if obj.radiance is not None:
            properties["emitter"] = mi.load_dict(
                {"type": "area", "radiance": {"type": "rgb", "value": obj.radiance.tolist()}}
            )
        mesh = mi.Mesh(
            obj.name, len(vertices), len(faces), props=properties, has_vertex_normals=True, has_vertex_texcoords=True
        )
        parameters = mi.traverse(mesh)
        float_type, index_type = type(parameters["vertex_positions"]), type(parameters["faces"])
        parameters["vertex_positions"] = float_type(np.asarray(vertices, np.float32).ravel())
        parameters["faces"] = index_type(np.asarray(faces, np.uint32).ravel())
        parameters["vertex_texcoords"] = float_type((np.asarray(uvs) * obj.uv_scale).astype(np.float32).ravel())
        parameters["vertex_normals"] = float_type(np.asarray(normals, np.float32).ravel())
        parameters.update()
        return mesh

    def load_scene(self, spec: SceneSpec, frame_divisors: tuple[int, ...] = (1,)):
        """The Mitsuba scene of `spec`, with one sensor per frame and film size (`frame_sensor` finds them): the
        frame's size divided by each of `frame_divisors` (rounded up)."""
        mi, settings = self.mi, self.settings
        scene = {"type": "scene"}
        for frame in range(spec.num_frames):
            for divisor in frame_divisors:
                scene[_sensor_id(frame, divisor)] = {
                    "type": "perspective",
                    "fov": spec.fov,
                    "fov_axis": "x",
                    "to_world": mi.ScalarTransform4f().look_at(
                        origin=spec.camera_origins[frame].tolist(),
                        target=spec.camera_targets[frame].tolist(),
                        up=[0, 1, 0],
                    ),
                    "film": {
                        "type": "hdrfilm",
                        "width": -(-settings.width // divisor),
                        "height": -(-settings.height // divisor),
                        "rfilter": {"type": "box"},
                        "pixel_format": "rgb",
                    },
                    "sampler": {"type": "independent"},
                }
        for obj in spec.objects:
            scene[obj.name] = self._shape(obj)
        if spec.sky_radiance is not None:
            scene["environment"] = {
                "type": "constant",
                "radiance": {"type": "rgb", "value": spec.sky_radiance.tolist()},
            }
        if spec.sun_direction is not None:
            scene["sun"] = {
                "type": "directional",
                "direction": (-spec.sun_direction).tolist(),
                "irradiance": {"type": "rgb", "value": spec.sun_irradiance.tolist()},
            }
        return mi.load_dict(scene)

    # Rendering ----------------------------------------------------------------------------------------------
    @staticmethod
    def frame_sensor(scene, frame: int, divisor: int = 1):
        """The sensor of `frame` at `1 / divisor` of the frame size in a scene from `load_scene`."""
        wanted = _sensor_id(frame, divisor)
        for sensor in scene.sensors():
            if sensor.id() == wanted:
                return sensor
        raise ValueError(f"The scene has no sensor {wanted!r}: load it with frame_divisors including {divisor}.")

    def render_path(self, scene, frame: int, spp: int, seed: int, divisor: int = 1) -> np.ndarray:
        """A path-traced render of `frame` (the ground truth's integrator) at `spp`, box filter, at `1 / divisor`
        of the frame size repeated back to it: `(H, W, 3)` linear radiance. The scene comes from
        `load_scene(spec, frame_divisors)` with `divisor` among its divisors."""
        return self._render(scene, frame, self.path, spp, seed, divisor)

    def render_visible_emission(self, scene, frame: int, spp: int, seed: int) -> np.ndarray:
        """The radiance the camera sees directly from emitters and the sky in `frame` (a path trace of depth 1, box
        filter, at `spp`): `(H, W, 3)` linear radiance, what an engine's emissive and sky passes draw."""
        return self._render(scene, frame, self.visible_emission, spp, seed)

    def _render(self, scene, frame: int, integrator, spp: int, seed: int, divisor: int = 1) -> np.ndarray:
        """One render of `frame`; with `divisor` > 1 at that fraction of the size, each pixel repeated
        `divisor x divisor` times back to the frame's size."""
        sensor = self.frame_sensor(scene, frame, divisor)
        start = time.perf_counter()
        image = np.array(self.mi.render(scene, sensor=sensor, integrator=integrator, spp=spp, seed=seed), np.float32)
        self.render_seconds += time.perf_counter() - start
        self.render_samples += spp * image.shape[0] * image.shape[1]
        image = np.maximum(image[..., :3], 0.0)
        if divisor > 1:
            image = image.repeat(divisor, axis=0).repeat(divisor, axis=1)
            image = image[: self.settings.height, : self.settings.width]
        return image

    def _intersect_pixels(self, scene, frame: int) -> dict[str, np.ndarray]:
        """Primary rays through pixel centres: hit mask, distance, position, normal, uv, albedo, shape index."""
        mi = self.mi
        width, height = self.settings.width, self.settings.height
        sensor = self.frame_sensor(scene, frame)
        shapes = scene.shapes()
        ys, xs = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
        film_x, film_y = (xs / width).ravel(), (ys / height).ravel()
        if self.vectorized:
            rays, _ = sensor.sample_ray(0.0, 0.5, mi.Point2f(mi.Float(film_x), mi.Float(film_y)), mi.Point2f(0.5, 0.5))
            hits = [self._hit_record(scene, rays, shapes)]
        else:
            hits = []
            for x, y in zip(film_x, film_y):
                ray, _ = sensor.sample_ray(0.0, 0.5, mi.Point2f(float(x), float(y)), mi.Point2f(0.5, 0.5))
                hits.append(self._hit_record(scene, ray, shapes))
        return {
            key: np.concatenate([np.atleast_2d(np.asarray(h[key])) for h in hits], axis=-1).T.reshape(
                height, width, -1
            )
            for key in hits[0]
        }

    def _hit_record(self, scene, rays, shapes) -> dict:
        import drjit as dr

        mi = self.mi
        si = scene.ray_intersect(rays)
        valid = np.array(si.is_valid(), dtype=bool).reshape(1, -1)
        index = np.full(valid.shape, -1.0)
        for number, shape in enumerate(shapes):
            # An opaque pointer keeps the comparison kernel the same for every scene (a literal would recompile).
            matches = si.shape == (dr.opaque(mi.ShapePtr, shape) if self.vectorized else shape)
            index[np.array(matches, dtype=bool).reshape(1, -1) & valid] = number
        albedo = si.bsdf(rays).eval_diffuse_reflectance(si) if valid.any() else mi.Color3f(0.0)
        return {
            "valid": valid.astype(np.float32),
            "distance": np.where(valid, np.array(si.t).reshape(1, -1), 0.0),
            "position": np.array(si.p).reshape(3, -1),
            "normal": np.array(si.sh_frame.n).reshape(3, -1),
            "uv": np.array(si.uv).reshape(2, -1),
            "albedo": np.array(albedo).reshape(3, -1),
            "direction": np.array(rays.d).reshape(3, -1),
            "shape_index": index,
        }

    def _occluded(self, scene, origins: np.ndarray, directions: np.ndarray, max_distance: np.ndarray) -> np.ndarray:
        """Whether each ray `origins + t * directions`, `0 < t < max_distance`, hits anything."""
        mi = self.mi
        if len(origins) == 0:
            return np.zeros(0, dtype=bool)
        if self.vectorized:
            rays = mi.Ray3f(
                mi.Point3f(*[mi.Float(c) for c in origins.T]), mi.Vector3f(*[mi.Float(c) for c in directions.T])
            )
            rays.maxt = mi.Float(max_distance)
            return np.array(scene.ray_test(rays), dtype=bool)
        occluded = np.zeros(len(origins), dtype=bool)
        for i, (origin, direction, distance) in enumerate(zip(origins, directions, max_distance)):
            ray = mi.Ray3f(mi.Point3f(*origin.tolist()), mi.Vector3f(*direction.tolist()))
            ray.maxt = float(distance)
            occluded[i] = bool(scene.ray_test(ray))
        return occluded

    def _shadow(self, scene, spec: SceneSpec, hits: dict, rng: np.random.Generator) -> np.ndarray:
        """Visible fraction of the strongest light at each pixel (0 on background)."""
        mask = hits["valid"][..., 0] > 0
        points = hits["position"][mask].astype(np.float64)
        normals = hits["normal"][mask].astype(np.float64)
        light = spec.strongest_light()
        samples = 1 if light is None else self.settings.shadow_samples
        origins = np.repeat(points + normals * 1e-3, samples, axis=0)
        repeated_normals = np.repeat(normals, samples, axis=0)
        if light is None:
            directions = np.broadcast_to(spec.sun_direction, origins.shape).copy()
            distance = np.full(len(origins), 1e4)
            facing = directions @ spec.sun_direction > -1  # all True; the surface term below decides
        else:
            corners = rng.uniform(-1.0, 1.0, (len(origins), 2))
            on_light = corners @ light.to_world[:3, :2].T + light.to_world[:3, 3]
            offsets = on_light - origins
            distance = np.linalg.norm(offsets, axis=1)
            directions = offsets / np.maximum(distance, 1e-9)[:, None]
            light_normal = light.to_world[:3, 2] / np.linalg.norm(light.to_world[:3, 2])
            facing = directions @ light_normal < 0
            distance = distance * (1.0 - 1e-4) - 1e-4
        lit = facing & (np.sum(directions * repeated_normals, axis=1) > 0)
        lit[lit] = ~self._occluded(scene, origins[lit], directions[lit], distance[lit])
        shadow = np.zeros(mask.shape, np.float32)
        shadow[mask] = lit.reshape(-1, samples).mean(axis=1)
        return shadow[..., None]

    def _ambient_occlusion(self, scene, hits: dict, rng: np.random.Generator) -> np.ndarray:
        """Fraction of cosine-distributed rays that leave each surface point unoccluded within `ao_radius`."""
        mask = hits["valid"][..., 0] > 0
        normals = hits["normal"][mask].astype(np.float64)
        samples = self.settings.ao_samples
        normals = np.repeat(normals, samples, axis=0)
        origins = np.repeat(hits["position"][mask].astype(np.float64), samples, axis=0) + normals * 1e-3
        # Malley's method: uniform points on the unit disk lifted to the hemisphere around each normal.
        radius, angle = np.sqrt(rng.uniform(size=len(origins))), rng.uniform(0, 2 * np.pi, len(origins))
        helper = np.where(np.abs(normals[:, :1]) > 0.9, [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
        tangent = np.cross(helper, normals)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        bitangent = np.cross(normals, tangent)
        directions = (
            tangent * (radius * np.cos(angle))[:, None]
            + bitangent * (radius * np.sin(angle))[:, None]
            + normals * np.sqrt(np.maximum(0.0, 1.0 - radius**2))[:, None]
        )
        occluded = self._occluded(scene, origins, directions, np.full(len(origins), self.settings.ao_radius))
        ao = np.zeros(mask.shape, np.float32)
        ao[mask] = 1.0 - occluded.reshape(-1, samples).mean(axis=1)
        return ao[..., None]

    def _motion(self, spec: SceneSpec, frame: int, hits: dict, previous: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """Pixel offsets to each surface point's position in the previous frame, and where that is valid."""
        height, width = hits["valid"].shape[:2]
        if previous is None:
            return np.zeros((height, width, 2), np.float32), np.zeros((height, width, 1), np.float32)
        mask = hits["valid"][..., 0] > 0
        origin, target = spec.camera_origins[frame - 1], spec.camera_targets[frame - 1]
        surface, in_front = project_points(
            hits["position"].astype(np.float64), origin, target, spec.fov, width, height
        )
        sky, _ = project_points(
            hits["direction"].astype(np.float64), origin, target, spec.fov, width, height, at_infinity=True
        )
        previous_xy = np.where(mask[..., None], surface, sky)
        ys, xs = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
        motion = previous_xy - np.stack([xs, ys], axis=-1)
        column = np.floor(previous_xy[..., 0]).astype(int)
        row = np.floor(previous_xy[..., 1]).astype(int)
        inside = (column >= 0) & (column < width) & (row >= 0) & (row < height) & (in_front | ~mask)
        column, row = np.clip(column, 0, width - 1), np.clip(row, 0, height - 1)
        previous_index = previous["shape_index"][row, column, 0]
        same_object = previous_index == hits["shape_index"][..., 0]
        distance_then = np.linalg.norm(hits["position"] - origin, axis=-1)
        consistent = np.abs(previous["distance"][row, column, 0] - distance_then) <= 0.05 * distance_then + 0.02
        valid = inside & same_object & (consistent | ~mask)
        return motion.astype(np.float32), valid[..., None].astype(np.float32)

    def render_clip(
        self,
        spec: SceneSpec,
        seed: int,
        clip_index: int,
        independent_ground_truth: bool = False,
        visible_emission: bool = False,
    ):
        """All buffers of every frame of `spec`, as `{name: (H, W, C) float32}` dicts (plus `material_label`
        `(H, W)` int16; with `independent_ground_truth`, `ground_truth_independent`; with `visible_emission`,
        `emission`: `render_visible_emission` at the ground truth's spp)."""
        settings = self.settings
        scene = self.load_scene(spec, frame_divisors=(1, 2))
        names = [shape.id() for shape in scene.shapes()]
        objects = [next(obj for obj in spec.objects if obj.name == name) for name in names]
        table = {
            "roughness": [obj.material.roughness if obj.material else 0.0 for obj in objects],
            "metallic": [obj.material.metallic if obj.material else 0.0 for obj in objects],
            "specular": [obj.material.specular if obj.material else 0.0 for obj in objects],
            "emissive": [float(np.mean(obj.radiance)) if obj.radiance is not None else 0.0 for obj in objects],
            "material_id": [float(obj.object_id) for obj in objects],
        }
        labels = np.array([obj.label for obj in objects] + [_NO_LABEL], dtype=np.int16)
        rng = np.random.default_rng([seed, clip_index, 7])
        frames, previous = [], None
        for frame in range(spec.num_frames):
            hits = self._intersect_pixels(scene, frame)
            mask = hits["valid"]
            index = hits["shape_index"][..., 0].astype(int)
            buffers = {
                "albedo": hits["albedo"] * mask,
                "normal": hits["normal"] * mask,
                "depth": hits["distance"],
                **{name: np.asarray([*values, 0.0], np.float32)[index][..., None] for name, values in table.items()},
                "position": hits["position"] * mask,
                "view": -hits["direction"],
                "uv": hits["uv"] * mask,
                "mask": mask,
            }
            buffers["motion"], buffers["history_valid"] = self._motion(spec, frame, hits, previous)
            buffers["shadow"] = self._shadow(scene, spec, hits, rng)
            passes = {
                "direct": (self.direct, settings.direct_spp),
                "path_1spp": (self.path, 1),
                "ground_truth": (self.path, settings.ground_truth_spp),
            }
            for number, (name, (integrator, spp)) in enumerate(passes.items()):
                buffers[name] = self._render(
                    scene, frame, integrator, spp, _render_seed(seed, clip_index, frame, number)
                )
            buffers["path_half"] = self._render(
                scene,
                frame,
                self.path,
                settings.half_resolution_spp,
                _render_seed(seed, clip_index, frame, 3),
                divisor=2,
            )
            buffers["ao"] = self._ambient_occlusion(scene, hits, rng)
            if independent_ground_truth:
                buffers["ground_truth_independent"] = self._render(
                    scene, frame, self.path, settings.ground_truth_spp, _render_seed(seed, clip_index, frame, 11)
                )
            if visible_emission:
                buffers["emission"] = self.render_visible_emission(
                    scene, frame, settings.ground_truth_spp, _render_seed(seed, clip_index, frame, 13)
                )
            frame_buffers = {name: np.ascontiguousarray(value, np.float32) for name, value in buffers.items()}
            frame_buffers["material_label"] = labels[index]
            frames.append(frame_buffers)
            previous = hits
        return frames


def render_preview(spec: SceneSpec, size: int = 96, spp: int = 32, seed: int = 0) -> np.ndarray:
    """The first view of `spec` path-traced at `size x size` and `spp`, tone-mapped as every frame metric of the
    library (`x / (1 + x)`, then sRGB): `(size, size, 3)` uint8, for model cards and previews."""
    import torch

    from ...tonemap import linear_to_srgb, tonemap

    select_variant()
    renderer = ClipRenderer(RenderSettings(size, size, spp))
    frame = renderer.render_path(renderer.load_scene(spec), 0, spp, seed)
    display = linear_to_srgb(tonemap(torch.from_numpy(np.ascontiguousarray(frame, np.float32)))).numpy()
    return (np.clip(display, 0.0, 1.0) * 255).round().astype(np.uint8)
