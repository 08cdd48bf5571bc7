"""The `relighting_pairs` dataset kind: one view of a procedural outdoor scene rendered under every time-of-day
lighting preset (noon, golden hour, overcast, night with its lamps lit), the data of the WS4 world remapper.

Every item is one scene and one camera, rendered by the renderers' own `ClipRenderer` once per preset: the same
geometry and materials, only the sky, the sun and the artificial lights change. A row holds the G-buffer (its
`emissive` is the lamps' and glowing props' emission, lit only at night), ambient occlusion and world position, and
per preset the path-traced frame, the visibility of that preset's key light (`shadow_<preset>`: the sun by day,
the strongest lamp at night, 0 everywhere under an overcast sky, which has no key light) and the key light's
direction and intensity (`light_<preset>`: a unit vector towards the sun and its mean irradiance; zeros without a
sun), the unshadowed irradiance of all its lights at each surface point (`irradiance_<preset>`, what an engine's
deferred lighting pass computes from its light list: `light_irradiance`), the part of it that comes from the key
light (`key_irradiance_<preset>`: times `shadow_<preset>`, the direct light of an engine's shadowed key-light pass),
that light's glossy reflection towards the camera (`key_specular_<preset>`: the same pass's GGX specular term) and
the radiance the camera sees directly from its lit lamps, glowing props and sky (`emission_<preset>`, what an
engine's emissive materials and sky draw for that time of day). A training pair is any (source, target) of two
different presets of one row: 12 per view.

The finalizing step measures the baselines of the WS4 issue on the test split, per preset pair, overall and on the
pixels whose key-light visibility changes between the two presets (where a colour transform cannot be right):
the identity (the source frame), a least-squares 3x4 colour matrix per ordered pair fitted on the train split (in
the tone-mapped space the metrics measure), and that matrix fitted on the reflected light (`frame - emission`) with
the target's emission added (`colour_matrix_emission`: a colour grade composited with an engine's emissive and sky
passes, which see what the models see of the emitters and the sky).
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..folder import DatasetGenerator, dataset_card, load_split
from .render import ClipRenderer, RenderSettings, select_variant
from .scenes import SceneSpec, generate_scene

__all__ = [
    "LIGHTING_PRESETS",
    "RELIGHTING_BUFFERS",
    "RELIGHTING_PAIRS",
    "RELIGHTING_PRESETS",
    "SHADOW_CHANGE_THRESHOLD",
    "RelightingPreset",
    "baseline_metrics",
    "colour_matrix_frames",
    "fit_colour_matrices",
    "key_light_irradiance",
    "key_light_specular",
    "light_irradiance",
    "lit_scene",
    "preset_pairs",
    "relighting_baselines",
    "shadow_changed",
    "specular_reflection",
]

LIGHTING_PRESETS = ("noon", "golden_hour", "overcast", "night")
"""The time-of-day presets, in condition order."""

RELIGHTING_BUFFERS = (
    "albedo",
    "normal",
    "depth",
    "roughness",
    "metallic",
    "specular",
    "emissive",
    "material_id",
    "position",
    "ao",
    "mask",
)
"""The buffers stored once per view (the same under every preset)."""

SHADOW_CHANGE_THRESHOLD = 0.5
"""A pixel's shadowing changes between two presets where their key lights' visibilities differ by more than this."""

_FLOAT16_MAX = 65504.0


def preset_pairs() -> list[tuple[int, int]]:
    """Every ordered (source, target) pair of two different presets, as indices into `LIGHTING_PRESETS`."""
    return [(s, t) for s in range(len(LIGHTING_PRESETS)) for t in range(len(LIGHTING_PRESETS)) if s != t]


def lit_scene(seed: int, index: int) -> tuple[SceneSpec, dict[str, SceneSpec], dict[str, np.ndarray]]:
    """The view `index` of dataset seed `seed`: an outdoor scene with street lamps and glowing props (its night
    version from `generate_scene`, one camera), that scene under each preset, and each preset's key light as
    `[direction towards the sun (3), mean irradiance]` (zeros without a sun)."""
    night = generate_scene(seed, index, 1, kind="night")
    rng = np.random.default_rng([seed, index, 17])
    azimuth = rng.uniform(0, 2 * np.pi)
    dark = [replace(obj, radiance=None) if obj.radiance is not None else obj for obj in night.objects]

    def sun(elevation_degrees, azimuth_radians):
        elevation = np.radians(elevation_degrees)
        return np.array(
            [
                np.cos(elevation) * np.cos(azimuth_radians),
                np.sin(elevation),
                np.cos(elevation) * np.sin(azimuth_radians),
            ]
        )

    noon_sun = sun(rng.uniform(50, 80), azimuth)
    noon_irradiance = rng.uniform(3.0, 6.0) * np.array([1.0, 0.95, 0.88])
    golden_sun = sun(rng.uniform(4, 14), azimuth + rng.uniform(-np.pi / 2, np.pi / 2))
    golden_irradiance = rng.uniform(2.0, 4.0) * np.array([1.0, 0.62, 0.32])
    specs = {
        "noon": replace(
            night,
            objects=dark,
            sky_radiance=rng.uniform(0.5, 1.0) * np.array([0.55, 0.7, 1.0]),
            sun_direction=noon_sun,
            sun_irradiance=noon_irradiance,
        ),
        "golden_hour": replace(
            night,
            objects=dark,
            sky_radiance=rng.uniform(0.15, 0.35) * np.array([1.0, 0.72, 0.55]),
            sun_direction=golden_sun,
            sun_irradiance=golden_irradiance,
        ),
        "overcast": replace(night, objects=dark, sky_radiance=rng.uniform(0.8, 1.6) * np.array([0.92, 0.95, 1.0])),
        "night": replace(night, sky_radiance=rng.uniform(0.004, 0.02) * np.array([0.35, 0.5, 1.0])),
    }
    lights = {
        "noon": np.array([*noon_sun, noon_irradiance.mean()]),
        "golden_hour": np.array([*golden_sun, golden_irradiance.mean()]),
        "overcast": np.zeros(4),
        "night": np.zeros(4),
    }
    return night, specs, lights


def light_irradiance(spec: SceneSpec, position: np.ndarray, normal: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`(H, W, 3)` float32: the unshadowed irradiance that `spec`'s lights cast on each surface point, as an engine's
    deferred lighting pass computes it from its light list (no visibility, no bounces): the sun
    (`sun_irradiance * max(0, n . sun)`), the uniform sky over the upper hemisphere (`pi * sky * (1 + n_y) / 2`)
    and every emitter as a small disc (a lamp's rectangle, facing its normal) or a glowing prop (a sphere of the
    same area): `L * A * cos_emitter * cos_surface / (d^2 + A / pi)`, the on-axis form of a disc of area `A`, which
    stays finite on the emitter itself. Zero on background pixels (`mask == 0`)."""
    position = np.asarray(position, np.float64)
    normal = np.asarray(normal, np.float64)
    irradiance = np.zeros((*position.shape[:-1], 3))
    if spec.sun_direction is not None and spec.sun_irradiance is not None:
        cosine = np.clip(normal @ np.asarray(spec.sun_direction, np.float64), 0.0, None)
        irradiance += cosine[..., None] * np.asarray(spec.sun_irradiance, np.float64)
    if spec.sky_radiance is not None:
        irradiance += np.pi * (1.0 + normal[..., 1:2]) / 2.0 * np.asarray(spec.sky_radiance, np.float64)
    for obj in spec.objects:
        if obj.radiance is None:
            continue
        if obj.mesh is None:  # a rectangle light ([-1, 1]^2 facing +z, one-sided)
            centre = obj.to_world[:3, 3]
            area = obj.rectangle_area
            facing = obj.to_world[:3, 2] / np.linalg.norm(obj.to_world[:3, 2])
        else:  # a glowing prop: its projected area from any side is about a quarter of its surface
            vertices, faces = obj.mesh[0], obj.mesh[1]
            corners = vertices[faces]
            edges = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            surface = 0.5 * np.linalg.norm(edges, axis=1)
            centre, area, facing = vertices.mean(axis=0), surface.sum() / 4.0, None
        offset = centre - position
        distance = np.linalg.norm(offset, axis=-1, keepdims=True)
        towards = offset / np.maximum(distance, 1e-6)
        cosine = np.clip(np.sum(normal * towards, axis=-1, keepdims=True), 0.0, None)
        if facing is not None:
            cosine = cosine * np.clip(-(towards @ facing), 0.0, None)[..., None]
        irradiance += np.asarray(obj.radiance, np.float64) * area * cosine / (distance**2 + area / np.pi)
    return (irradiance * (np.asarray(mask)[..., :1] > 0.5)).astype(np.float32)


def _key_light_scene(spec: SceneSpec) -> SceneSpec | None:
    """`spec` with its key light alone (the light whose visibility `shadow_<preset>` holds: the sun by day, the
    strongest lit lamp at night), or `None` without one (overcast)."""
    lamp = spec.strongest_light()
    if spec.sun_direction is not None:
        return replace(spec, objects=[], sky_radiance=None)
    if lamp is not None and lamp.radiance is not None:
        return replace(spec, objects=[lamp], sky_radiance=None)
    return None


def key_light_irradiance(spec: SceneSpec, position: np.ndarray, normal: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`(H, W, 3)` float32: the part of `light_irradiance` that comes from `spec`'s key light, the light whose
    visibility `shadow_<preset>` holds (the sun by day, the strongest lit lamp at night; zero without one). Times
    that visibility it is the direct light an engine's shadowed key-light pass computes."""
    key = _key_light_scene(spec)
    if key is None:
        return np.zeros((*np.shape(position)[:-1], 3), np.float32)
    return light_irradiance(key, position, normal, mask)


def specular_reflection(
    irradiance: np.ndarray,
    normal: np.ndarray,
    view: np.ndarray,
    towards_light: np.ndarray,
    albedo: np.ndarray,
    roughness: np.ndarray,
    metallic: np.ndarray,
    specular: np.ndarray,
) -> np.ndarray:
    """`(H, W, 3)` float32: the radiance that one light's `irradiance` (its cosine term included) reflects towards
    `view` through the GGX specular lobe `D G F / (4 (n . l) (n . v))` of each pixel's material, as an engine's
    deferred pass computes it: alpha = roughness^2 with roughness at least 0.1 (an engine's clamp against sub-pixel
    highlights), Smith shadowing-masking, Schlick Fresnel from `F0 = 0.08 * specular` blended towards the albedo by
    `metallic` (the principled BSDF's parameters). `view` and `towards_light` are unit vectors from the surface."""
    normal = np.asarray(normal, np.float64)
    half = np.asarray(towards_light, np.float64) + np.asarray(view, np.float64)
    half /= np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-6)

    def cosine(direction):
        return np.clip(np.sum(normal * direction, axis=-1, keepdims=True), 1e-4, None)

    n_l, n_v, n_h = cosine(towards_light), cosine(view), cosine(half)
    v_h = np.clip(np.sum(np.asarray(view, np.float64) * half, axis=-1, keepdims=True), 0.0, 1.0)
    alpha2 = np.maximum(np.asarray(roughness, np.float64), 0.1) ** 4
    distribution = alpha2 / (np.pi * (n_h**2 * (alpha2 - 1.0) + 1.0) ** 2)

    def smith(cos):
        return 2.0 * cos / (cos + np.sqrt(alpha2 + (1.0 - alpha2) * cos**2))

    metallic = np.asarray(metallic, np.float64)
    f0 = (1.0 - metallic) * 0.08 * np.asarray(specular, np.float64) + metallic * np.asarray(albedo, np.float64)
    fresnel = f0 + (1.0 - f0) * (1.0 - v_h) ** 5
    lobe = distribution * smith(n_l) * smith(n_v) * fresnel / (4.0 * n_l * n_v)
    return np.minimum(np.asarray(irradiance, np.float64) * lobe, _FLOAT16_MAX).astype(np.float32)


def key_light_specular(
    spec: SceneSpec,
    key_irradiance: np.ndarray,
    position: np.ndarray,
    normal: np.ndarray,
    albedo: np.ndarray,
    roughness: np.ndarray,
    metallic: np.ndarray,
    specular: np.ndarray,
) -> np.ndarray:
    """`(H, W, 3)` float32: the glossy reflection of `spec`'s key light towards its (first) camera, unshadowed:
    `specular_reflection` of `key_irradiance` (`key_light_irradiance`) by the pixels' material buffers, towards the
    sun by day and the strongest lamp's centre at night, zero without a key light. Times `shadow_<preset>`, the
    glossy part of an engine's shadowed key-light pass."""
    position = np.asarray(position, np.float64)
    key = _key_light_scene(spec)
    if key is None:
        return np.zeros((*position.shape[:-1], 3), np.float32)
    if key.sun_direction is not None:
        towards_light = np.broadcast_to(np.asarray(key.sun_direction, np.float64), position.shape)
    else:
        towards_light = key.objects[0].to_world[:3, 3] - position
        towards_light /= np.maximum(np.linalg.norm(towards_light, axis=-1, keepdims=True), 1e-6)
    view = np.asarray(spec.camera_origins[0], np.float64) - position
    view /= np.maximum(np.linalg.norm(view, axis=-1, keepdims=True), 1e-6)
    return specular_reflection(key_irradiance, normal, view, towards_light, albedo, roughness, metallic, specular)


@dataclass(frozen=True)
class RelightingPreset:
    """How much to generate and at what quality.

    Attributes:
        name (`str`): `tiny`, `quick` or `full`.
        num_views (`int`): views (one scene and camera each) in the dataset.
        views_per_chunk (`int`): views per Parquet file (the unit of work, resume and splitting).
        render (`RenderSettings`): frame size, samples per pixel and ray counts of every render.
        validation_fraction, test_fraction (`float`): share of chunks in each held-out split (at least one each).
    """

    name: str
    num_views: int
    views_per_chunk: int
    render: RenderSettings
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    @property
    def num_items(self) -> int:
        return self.num_views

    @property
    def items_per_chunk(self) -> int:
        return self.views_per_chunk


def _settings(width: int, height: int, spp: int, **kwargs) -> RenderSettings:
    # The renderer's extra passes (direct, 1 spp, half resolution) are not stored here: one sample each.
    return RenderSettings(width, height, ground_truth_spp=spp, direct_spp=1, half_resolution_spp=1, **kwargs)


RELIGHTING_PRESETS = {
    "tiny": RelightingPreset("tiny", 6, 1, _settings(24, 24, 16, ao_samples=4, shadow_samples=2)),
    "quick": RelightingPreset("quick", 96, 4, _settings(64, 64, 32)),
    "full": RelightingPreset("full", 1000, 8, _settings(128, 128, 256)),
}
"""`tiny`: 6 views of 24x24 for tests. `quick`: 96 views of 64x64 at 32 spp per preset (the CPU preset: about a
minute and a half on 2 cores, 912 training pairs). `full`: 1000 views of 128x128 at 256 spp."""


class _ViewWorker:
    def __init__(self, preset: RelightingPreset, seed: int):
        self.preset, self.seed = preset, seed
        self.renderer = ClipRenderer(preset.render)

    def rows(self, index: int, split: str) -> list[dict]:
        _, specs, lights = lit_scene(self.seed, index)
        row = {"scene_id": index}
        for number, name in enumerate(LIGHTING_PRESETS):
            # A render index per (view, preset): independent noise in each preset's frame.
            (frame,) = self.renderer.render_clip(
                specs[name], self.seed, index * len(LIGHTING_PRESETS) + number, visible_emission=True
            )
            if name == "night":  # the lit lamps: the emission a game's material would carry
                row.update({buffer: frame[buffer] for buffer in RELIGHTING_BUFFERS})
            shadow = frame["shadow"] if name != "overcast" else np.zeros_like(frame["shadow"])
            row[f"frame_{name}"] = np.minimum(frame["ground_truth"], _FLOAT16_MAX)
            row[f"shadow_{name}"] = shadow
            row[f"light_{name}"] = lights[name].astype(np.float32)
            row[f"irradiance_{name}"] = light_irradiance(
                specs[name], frame["position"], frame["normal"], frame["mask"]
            )
            row[f"key_irradiance_{name}"] = key_light_irradiance(
                specs[name], frame["position"], frame["normal"], frame["mask"]
            )
            material = [frame[buffer] for buffer in ("albedo", "roughness", "metallic", "specular")]
            row[f"key_specular_{name}"] = key_light_specular(
                specs[name], row[f"key_irradiance_{name}"], frame["position"], frame["normal"], *material
            )
            row[f"emission_{name}"] = np.minimum(frame["emission"], _FLOAT16_MAX)
        return [
            {
                key: value.astype(np.float16) if isinstance(value, np.ndarray) and value.ndim == 3 else value
                for key, value in row.items()
            }
        ]

    def timing(self) -> dict:
        return {"render_seconds": self.renderer.render_seconds, "render_samples": self.renderer.render_samples}


# Baselines ----------------------------------------------------------------------------------------------------
def shadow_changed(source_shadow: np.ndarray, target_shadow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`(N, H, W)` bool: geometry pixels whose key-light visibility differs by more than `SHADOW_CHANGE_THRESHOLD`
    between the two presets."""
    difference = np.abs(source_shadow.astype(np.float32) - target_shadow.astype(np.float32))[..., 0]
    return (difference > SHADOW_CHANGE_THRESHOLD) & (mask[..., 0] > 0.5)


def _reflected_light(frame: np.ndarray, emission: np.ndarray) -> np.ndarray:
    """A frame less what the camera sees directly of emitters and the sky: the light its surfaces reflect."""
    return np.maximum(np.asarray(frame, np.float32) - np.asarray(emission, np.float32), 0.0)


def _train_columns(reflected: bool) -> list[str]:
    """The train-split columns `fit_colour_matrices` reads."""
    columns = [f"frame_{name}" for name in LIGHTING_PRESETS]
    return columns + ([f"emission_{name}" for name in LIGHTING_PRESETS] if reflected else [])


def fit_colour_matrices(
    folder: str | Path,
    max_pixels: int = 2_000_000,
    seed: int = 0,
    reflected: bool = False,
    train: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The least-squares 3x4 colour matrix of every ordered preset pair on the train split of `folder`, fitted in
    the metric's display space (`tonemap`: what PSNR measures, so the strongest colour transform by that measure):
    `display(target) ~= M @ [display(source), 1]`. With `reflected`, both frames lose their directly seen emission
    first (`frame - emission`: the light their surfaces reflect), for `colour_matrix_frames` with emission. `train`
    passes the split's arrays already loaded. Returns `(presets, presets, 3, 4)`, the identity on the diagonal."""
    import torch

    from ...tonemap import tonemap

    columns = _train_columns(reflected)
    train = load_split(folder, "train", columns) if train is None else train
    rng = np.random.default_rng(seed)
    count = len(train[columns[0]])
    pixels = train[columns[0]].shape[1] * train[columns[0]].shape[2]
    chosen = rng.choice(count * pixels, size=min(max_pixels, count * pixels), replace=False)
    matrices = np.tile(np.eye(3, 4), (len(LIGHTING_PRESETS), len(LIGHTING_PRESETS), 1, 1))

    def sampled(name):
        frame = train[f"frame_{name}"].astype(np.float32).reshape(-1, 3)[chosen]
        if reflected:
            frame = _reflected_light(frame, train[f"emission_{name}"].reshape(-1, 3)[chosen])
        return tonemap(torch.from_numpy(frame)).double().numpy()

    flat = {name: sampled(name) for name in LIGHTING_PRESETS}
    for s, t in preset_pairs():
        source = np.concatenate([flat[LIGHTING_PRESETS[s]], np.ones((len(chosen), 1))], axis=1)
        solution, *_ = np.linalg.lstsq(source, flat[LIGHTING_PRESETS[t]], rcond=None)
        matrices[s, t] = solution.T
    return matrices


def colour_matrix_frames(
    source: np.ndarray,
    matrix: np.ndarray,
    source_emission: np.ndarray | None = None,
    target_emission: np.ndarray | None = None,
) -> np.ndarray:
    """`(..., 3)` linear frames through one 3x4 colour matrix of `fit_colour_matrices` (applied to the tone-mapped
    frames, mapped back to linear radiance). With both emissions (and matrices fitted `reflected`), the matrix maps
    the source's reflected light (`source - source_emission`) and the target's emission is added: a colour grade
    composited with an engine's emissive and sky passes."""
    import torch

    from ...tonemap import inverse_tonemap, tonemap

    source = np.asarray(source, np.float32) if source_emission is None else _reflected_light(source, source_emission)
    display = tonemap(torch.from_numpy(source)).numpy()
    mapped = display @ matrix[:, :3].T.astype(np.float32) + matrix[:, 3].astype(np.float32)
    frames = inverse_tonemap(torch.from_numpy(mapped)).numpy()
    if target_emission is not None:
        frames = frames + np.asarray(target_emission, np.float32)
    return frames


def baseline_metrics(
    rows: dict[str, np.ndarray],
    matrices: np.ndarray,
    presets: tuple[str, ...] = LIGHTING_PRESETS,
    flip: bool = True,
    reflected_matrices: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """`relighting_metrics` of the identity and of the colour `matrices` (`fit_colour_matrices`) on every ordered
    pair of every view of `rows` (a split's arrays); with `reflected_matrices` (fitted `reflected`), also of
    `colour_matrix_emission`: those matrices on the reflected light, with the target's emission added."""
    from ...metrics import relighting_metrics

    names = ["identity", "colour_matrix"] + (["colour_matrix_emission"] if reflected_matrices is not None else [])
    targets, predictions, changed, pairs = [], {name: [] for name in names}, [], []
    for s, t in preset_pairs():
        source = rows[f"frame_{presets[s]}"].astype(np.float32)
        targets.append(rows[f"frame_{presets[t]}"].astype(np.float32))
        predictions["identity"].append(source)
        predictions["colour_matrix"].append(colour_matrix_frames(source, matrices[s, t]))
        if reflected_matrices is not None:
            predictions["colour_matrix_emission"].append(
                colour_matrix_frames(
                    source, reflected_matrices[s, t], rows[f"emission_{presets[s]}"], rows[f"emission_{presets[t]}"]
                )
            )
        changed.append(shadow_changed(rows[f"shadow_{presets[s]}"], rows[f"shadow_{presets[t]}"], rows["mask"]))
        pairs += [(s, t)] * len(source)
    target, mask = np.concatenate(targets), np.concatenate(changed)
    return {
        name: relighting_metrics(np.concatenate(frames), target, mask, pairs, tuple(presets), flip=flip)
        for name, frames in predictions.items()
    }


def relighting_baselines(folder: str | Path, split: str = "test") -> dict:
    """The identity and both colour-matrix baselines on `split` (`baseline_metrics`), with the matrices fitted on
    the train split."""
    train = load_split(folder, "train", _train_columns(reflected=True))  # read once, for both fits
    matrices = fit_colour_matrices(folder, train=train)
    reflected = fit_colour_matrices(folder, reflected=True, train=train)
    rows = load_split(folder, split)
    return {
        "split": split,
        "frames": len(rows["scene_id"]) * len(preset_pairs()),
        "views": len(rows["scene_id"]),
        "baselines": baseline_metrics(rows, matrices, reflected_matrices=reflected),
        "colour_matrices": matrices.tolist(),
        "reflected_colour_matrices": reflected.tolist(),
    }


class RelightingPairGenerator(DatasetGenerator):
    """Views of outdoor scenes under every lighting preset (see the module docstring)."""

    kind = "relighting_pairs"
    version = "1.4"
    presets = RELIGHTING_PRESETS
    report_baselines = ("identity", "colour_matrix", "colour_matrix_emission")

    def features(self, preset: RelightingPreset):
        from datasets import Array3D, Features, Sequence, Value

        from ...schema import BUFFER_SPECS

        shape = (preset.render.height, preset.render.width)
        columns = {name: Array3D((*shape, BUFFER_SPECS[name].channels), "float16") for name in RELIGHTING_BUFFERS}
        for name in LIGHTING_PRESETS:
            columns[f"frame_{name}"] = Array3D((*shape, 3), "float16")
            columns[f"shadow_{name}"] = Array3D((*shape, 1), "float16")
            columns[f"light_{name}"] = Sequence(Value("float32"), length=4)
            columns[f"irradiance_{name}"] = Array3D((*shape, 3), "float16")
            columns[f"key_irradiance_{name}"] = Array3D((*shape, 3), "float16")
            columns[f"emission_{name}"] = Array3D((*shape, 3), "float16")
            columns[f"key_specular_{name}"] = Array3D((*shape, 3), "float16")
        columns["scene_id"] = Value("int32")
        return Features(columns)

    def environment(self, variant: str | None) -> dict:
        import mitsuba

        return {"mitsuba_version": mitsuba.__version__, "mitsuba_variant": select_variant(variant)}

    def start(self, preset: RelightingPreset, seed: int, environment: dict) -> _ViewWorker:
        return _ViewWorker(preset, seed)

    def measure_baselines(self, folder: Path, record: dict) -> dict:
        return relighting_baselines(folder)

    def card(self, folder: Path, record: dict, baselines: dict) -> str:
        return _card(record, baselines)

    def describe_baselines(self, results: dict) -> str:
        return (
            f"Baselines on the {results['split']} split ({results['views']} views, {results['frames']} pairs):\n"
            + baselines_table(results["baselines"])
        )


def baselines_table(baselines: dict) -> str:
    """Per-pair PSNR overall and on shadow-changed pixels of each baseline, as a Markdown table."""
    from ...tables import format_table

    names = list(baselines)
    rows = []
    for s, t in preset_pairs():
        pair = f"{LIGHTING_PRESETS[s]} -> {LIGHTING_PRESETS[t]}"
        cells = []
        for name in names:
            metrics = baselines[name]
            cells += [
                f"{metrics[f'psnr_{LIGHTING_PRESETS[s]}_to_{LIGHTING_PRESETS[t]}']:.2f}",
                f"{metrics[f'psnr_shadow_changed_{LIGHTING_PRESETS[s]}_to_{LIGHTING_PRESETS[t]}']:.2f}",
            ]
        rows.append([pair, *cells])
    rows.append(["all pairs", *[f"{baselines[n][k]:.2f}" for n in names for k in ("psnr", "psnr_shadow_changed")]])
    headers = ["pair", *[f"{name} {part}" for name in names for part in ("PSNR", "shadow-changed PSNR")]]
    return format_table(headers, rows)


def _card(record: dict, baselines: dict) -> str:
    preset = record["preset"]
    splits = sorted(set(record["splits"]))
    render = preset["render"]
    body = f"""# Uruk time-of-day relighting pairs ({preset["name"]} preset)

Procedural outdoor scenes (ground, props, street lamps, glowing props) rendered by Mitsuba 3
({record["mitsuba_variant"]}) from one camera under four lighting presets: {", ".join(LIGHTING_PRESETS)} (the lamps
lit only at night). Generated by `uruk_hf` (generator {record["generator_version"]}, seed {record["seed"]}):

```bash
uruk data generate --kind relighting_pairs --preset {preset["name"]} --seed {record["seed"]} --output DIR
```

- {preset["num_views"]} views of {render["width"]}x{render["height"]}, {render["ground_truth_spp"]}-spp path-traced
  frames per preset; splits are disjoint by scene.
- Per view: the G-buffer ({", ".join(RELIGHTING_BUFFERS)}); per preset `frame_<preset>` (linear HDR),
  `shadow_<preset>` (visibility of its key light: the sun, the strongest lamp at night, 0 under overcast),
  `light_<preset>` (direction towards the sun and its mean irradiance; zeros without a sun) and `irradiance_<preset>`
  (the unshadowed irradiance of its sun, sky, lamps and glowing props at each surface point, linear HDR),
  `key_irradiance_<preset>` (the part of it from the key light whose visibility `shadow_<preset>` holds),
  `key_specular_<preset>` (that light's GGX specular reflection towards the camera, unshadowed) and
  `emission_<preset>` (the radiance the camera sees directly from its lit lamps, glowing props and sky: a depth-1
  path trace, linear HDR).

## Baselines ({baselines["split"]} split, {baselines["frames"]} pairs; PSNR in dB, tone-mapped)

"Shadow-changed" pixels are those whose key-light visibility differs by more than {SHADOW_CHANGE_THRESHOLD} between
the two presets. The colour matrix is a least-squares 3x4 matrix per ordered pair fitted on the train split (on
tone-mapped frames); `colour_matrix_emission` fits it on the reflected light (`frame - emission`) and adds the
target's emission.

{baselines_table(baselines["baselines"])}
"""
    return dataset_card(body, splits, tags=["relighting", "time-of-day", "mitsuba", "synthetic", "uruk"])


RELIGHTING_PAIRS = RelightingPairGenerator()
"""The generator of the WS4 world remapper's datasets."""
