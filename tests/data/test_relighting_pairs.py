"""The `relighting_pairs` dataset kind (WS4's data) and the relighting task's batches."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.relighting import (
    LIGHTING_PRESETS,
    RELIGHTING_PRESETS,
    colour_matrix_frames,
    key_light_irradiance,
    key_light_specular,
    light_irradiance,
    lit_scene,
    preset_pairs,
    shadow_changed,
    specular_reflection,
)

pytestmark = pytest.mark.slow  # renders a tiny dataset with Mitsuba (about 25 s on 2 cores)


@pytest.fixture(scope="module")
def relighting_data(tmp_path_factory):
    from uruk_hf.catalog import dataset_kind
    from uruk_hf.data.folder import generate_dataset

    folder = tmp_path_factory.mktemp("relighting")
    generate_dataset(dataset_kind("relighting_pairs"), folder, "tiny", seed=0, progress=False)
    return folder


def test_every_view_has_every_preset_and_one_g_buffer(relighting_data):
    rows = load_split(relighting_data, "train")
    size = (RELIGHTING_PRESETS["tiny"].render.height, RELIGHTING_PRESETS["tiny"].render.width)
    for name in LIGHTING_PRESETS:
        assert rows[f"frame_{name}"].shape[1:] == (*size, 3) and rows[f"shadow_{name}"].shape[1:] == (*size, 1)
        irradiance = rows[f"irradiance_{name}"].astype(np.float32)
        assert irradiance.shape[1:] == (*size, 3) and (irradiance >= 0).all()
        assert not irradiance[rows["mask"][..., 0] < 0.5].any()  # background: no surface to light
        assert np.isfinite(rows[f"frame_{name}"].astype(np.float32)).all()
        # What the camera sees directly of emitters and the sky: on open sky (a background pixel and its four
        # neighbours), all of the frame but where thin geometry crosses the pixel; inside unlit geometry, nothing.
        emission, frame = rows[f"emission_{name}"].astype(np.float32), rows[f"frame_{name}"].astype(np.float32)
        assert emission.shape[1:] == (*size, 3) and (emission >= 0).all()
        open_sky = _interior(rows["mask"][..., 0] < 0.5)
        same = np.isclose(emission[open_sky], frame[open_sky], rtol=1e-2, atol=1e-3).all(axis=-1)
        assert open_sky.any() and same.mean() > 0.95
        if name != "night":
            assert (emission[_interior(rows["mask"][..., 0] > 0.5)].max(axis=-1) == 0).mean() > 0.95
    assert not rows["shadow_overcast"].any()  # an overcast sky has no key light
    for name in ("noon", "golden_hour"):  # a unit vector towards the sun, above the horizon, and its irradiance
        lights = np.asarray(rows[f"light_{name}"])
        assert np.allclose(np.linalg.norm(lights[:, :3], axis=1), 1.0, atol=1e-5) and (lights[:, 1] > 0).all()
        assert (lights[:, 3] > 0).all()
    assert not np.asarray(rows["light_night"]).any() and not np.asarray(rows["light_overcast"]).any()
    # The same geometry under every preset, so one G-buffer: the night frame is darker than noon's.
    night, noon = rows["frame_night"].astype(np.float32), rows["frame_noon"].astype(np.float32)
    assert night.mean() < noon.mean()


def _interior(region: np.ndarray) -> np.ndarray:
    """`(N, H, W)` bool: pixels of `region` whose four neighbours are in it too."""
    inside = region.copy()
    inside[:, 1:] &= region[:, :-1]
    inside[:, :-1] &= region[:, 1:]
    inside[:, :, 1:] &= region[:, :, :-1]
    inside[:, :, :-1] &= region[:, :, 1:]
    return inside


def test_the_night_emission_is_the_lit_lamps_seen_from_the_front(relighting_data):
    rows = load_split(relighting_data, "train")
    emission, frame = rows["emission_night"].astype(np.float32), rows["frame_night"].astype(np.float32)
    lamps = _interior(emission.max(axis=-1) > 1.0)  # far above the night sky (< 0.02)
    assert lamps.any()
    # On a lamp's surface the frame is its emission plus a little reflected light.
    assert np.all(frame[lamps] >= 0.95 * emission[lamps])
    assert np.median(frame[lamps].sum(-1) / emission[lamps].sum(-1)) < 1.1


def test_presets_change_only_the_lights():
    night, specs, _ = lit_scene(0, 3)
    lit = [obj.name for obj in night.objects if obj.radiance is not None]
    assert lit  # street lamps and glowing props
    for name in ("noon", "golden_hour", "overcast"):
        assert [obj.name for obj in specs[name].objects] == [obj.name for obj in night.objects]
        assert all(obj.radiance is None for obj in specs[name].objects)
    assert specs["night"].sun_direction is None and specs["noon"].sun_direction is not None
    assert specs["golden_hour"].sun_direction[1] < specs["noon"].sun_direction[1]  # a low sun


@pytest.mark.parametrize("preset", LIGHTING_PRESETS)
def test_light_irradiance_is_the_deferred_lighting_of_the_presets_lights(preset):
    _, specs, _ = lit_scene(0, 3)
    spec = specs[preset]
    up, down = np.array([[[0.0, 1.0, 0.0]]]), np.array([[[0.0, -1.0, 0.0]]])
    mask = np.ones((1, 1, 1))
    ground = np.zeros((1, 1, 3))
    upward = light_irradiance(spec, ground, up, mask)
    # Only the lights: a scene with none of them casts nothing, and background pixels get nothing.
    unlit = replace(spec, objects=[replace(o, radiance=None) for o in spec.objects], sky_radiance=None)
    assert not light_irradiance(replace(unlit, sun_direction=None), ground, up, mask).any()
    assert not light_irradiance(spec, ground, up, np.zeros_like(mask)).any()
    if spec.sun_direction is not None:  # the sun's cosine law plus the full sky on a level surface
        expected = spec.sun_irradiance * spec.sun_direction[1] + np.pi * spec.sky_radiance
        assert np.allclose(upward[0, 0], expected, rtol=1e-5)
    if preset == "night":  # lamps face down: a level ground point below them is lit, one facing down is not by them
        lamps = [o for o in spec.objects if o.radiance is not None and o.mesh is None]
        assert lamps and (upward > np.pi * spec.sky_radiance).all()
        only_lamps = replace(spec, objects=lamps, sky_radiance=None)
        assert not light_irradiance(only_lamps, ground, down, mask).any()
        lamp = lamps[0]
        below = lamp.to_world[:3, 3] - np.array([0.0, 2.0, 0.0])
        single = light_irradiance(replace(spec, objects=[lamp], sky_radiance=None), below[None, None], up, mask)
        area = 4.0 * np.linalg.norm(lamp.to_world[:3, 0]) * np.linalg.norm(lamp.to_world[:3, 1])
        assert np.allclose(single[0, 0], lamp.radiance * area / (4.0 + area / np.pi), rtol=1e-5)


@pytest.mark.parametrize("preset", LIGHTING_PRESETS)
def test_key_light_irradiance_is_the_part_of_the_sun_or_the_strongest_lamp(preset):
    _, specs, _ = lit_scene(0, 5)
    spec = specs[preset]
    rng = np.random.default_rng(0)
    position = rng.uniform(-4.0, 4.0, (6, 7, 3)) * np.array([1.0, 0.0, 1.0])  # points on the ground
    normal = np.broadcast_to([0.0, 1.0, 0.0], position.shape)
    mask = np.ones((6, 7, 1))
    key = key_light_irradiance(spec, position, normal, mask)
    total = light_irradiance(spec, position, normal, mask)
    assert (key <= total + 1e-5).all() and (key >= 0).all()
    if preset in ("noon", "golden_hour"):  # the sun's cosine law alone
        expected = spec.sun_irradiance * spec.sun_direction[1]
        assert np.allclose(key, np.broadcast_to(expected, key.shape), rtol=1e-5)
    elif preset == "night":  # the strongest lamp alone
        lamp = spec.strongest_light()
        alone = light_irradiance(replace(spec, objects=[lamp], sky_radiance=None), position, normal, mask)
        assert key.any() and np.allclose(key, alone)
    else:  # an overcast sky has no key light
        assert not key.any()


def test_specular_reflection_is_the_ggx_lobe_with_schlick_fresnel():
    up = np.array([[[0.0, 1.0, 0.0]]])
    light = np.array([[[0.6, 0.8, 0.0]]])
    mirror = np.array([[[-0.6, 0.8, 0.0]]])
    albedo, irradiance = np.array([[[0.9, 0.5, 0.1]]]), np.full((1, 1, 3), 2.0)

    def reflection(view, roughness=0.3, metallic=0.0, specular=0.5):
        material = [np.full((1, 1, 1), value) for value in (roughness, metallic, specular)]
        return specular_reflection(irradiance, up, view, light, albedo, *material)[0, 0]

    # At the mirror direction (n.h = 1, v.h = n.l = n.v = 0.8) the lobe is D G F / (4 n.l n.v) in closed form.
    alpha2 = 0.3**4
    smith = 2 * 0.8 / (0.8 + np.sqrt(alpha2 + (1 - alpha2) * 0.64))
    fresnel = 0.04 + 0.96 * 0.2**5
    expected = 2.0 * (1 / (np.pi * alpha2)) * smith**2 * fresnel / (4 * 0.64)
    assert np.allclose(reflection(mirror), expected, rtol=1e-5)
    assert (reflection(up) < 0.1 * reflection(mirror)).all()  # off the mirror direction, much less
    assert (reflection(mirror, roughness=0.6) < reflection(mirror)).all()  # rougher: a lower, wider peak
    metal = reflection(mirror, metallic=1.0)  # a metal's reflection takes its albedo's colour
    assert metal[0] > metal[1] > metal[2] and np.allclose(metal / reflection(mirror), albedo[0, 0] / 0.04, rtol=0.1)
    # A mirror-smooth surface is clamped to roughness 0.1, as an engine clamps it.
    assert np.allclose(reflection(mirror, roughness=0.0), reflection(mirror, roughness=0.1))


@pytest.mark.parametrize("preset", LIGHTING_PRESETS)
def test_key_light_specular_reflects_the_key_light_towards_the_camera(preset):
    _, specs, _ = lit_scene(0, 5)
    spec = specs[preset]
    lamp = spec.strongest_light()
    point = np.zeros(3) if lamp is None else lamp.to_world[:3, 3] - np.array([0.0, 2.0, 0.0])  # under the lamp
    position = point[None, None]
    normal = np.array([[[0.0, 1.0, 0.0]]])
    material = [np.full((1, 1, channels), value) for channels, value in ((3, 0.5), (1, 0.3), (1, 0.0), (1, 0.5))]
    key = key_light_irradiance(spec, position, normal, np.ones((1, 1, 1)))
    glossy = key_light_specular(spec, key, position, normal, *material)
    if preset == "overcast":  # no key light, no reflection of it
        assert not glossy.any()
        return
    towards_light = np.asarray(spec.sun_direction) if lamp is None else np.array([0.0, 1.0, 0.0])
    # A camera where the key light's mirror image is seen, and the scene's own camera: the first sees more.
    mirrored = point + towards_light * np.array([-1.0, 1.0, -1.0]) * 5.0
    at_mirror = key_light_specular(replace(spec, camera_origins=mirrored[None]), key, position, normal, *material)
    view = (spec.camera_origins[0] - point) / np.linalg.norm(spec.camera_origins[0] - point)
    expected = specular_reflection(key, normal, view[None, None], towards_light[None, None], *material)
    assert np.allclose(glossy, expected, rtol=1e-5) and (at_mirror > glossy).all() and (glossy > 0).all()


def test_baselines_cover_every_pair_and_the_colour_matrix_is_fitted(relighting_data):
    baselines = json.loads((relighting_data / "baselines.json").read_text())
    for name in ("identity", "colour_matrix", "colour_matrix_emission"):
        metrics = baselines["baselines"][name]
        for s, t in preset_pairs():
            pair = f"{LIGHTING_PRESETS[s]}_to_{LIGHTING_PRESETS[t]}"
            assert f"psnr_{pair}" in metrics and f"psnr_shadow_changed_{pair}" in metrics
    matrices = np.asarray(baselines["colour_matrices"])
    assert matrices.shape == (4, 4, 3, 4) and np.allclose(matrices[0, 0], np.eye(3, 4))
    frames = np.random.default_rng(0).random((2, 3, 3, 3)).astype(np.float32)
    assert np.allclose(colour_matrix_frames(frames, np.eye(3, 4)), frames, atol=1e-4)  # the identity matrix
    # With emission: the identity matrix on the reflected light, then the target's emission added.
    source_emission, target_emission = 0.5 * frames, np.full_like(frames, 2.0)
    composited = colour_matrix_frames(frames, np.eye(3, 4), source_emission, target_emission)
    assert np.allclose(composited, 0.5 * frames + 2.0, atol=1e-4)
    reflected = np.asarray(baselines["reflected_colour_matrices"])
    assert reflected.shape == (4, 4, 3, 4) and not np.allclose(reflected, matrices)


def test_a_dataset_without_the_irradiance_and_emission_columns_is_refused_by_name(monkeypatch, tmp_path):
    from uruk_hf.training.tasks import relighting

    monkeypatch.setattr(relighting, "load_split", lambda data, split: {"scene_id": np.arange(2)})
    refusal = "has no irradiance_noon, key_irradiance_noon, emission_noon, key_specular_noon, .*key_specular_night: "
    with pytest.raises(ValueError, match=refusal):
        relighting.RelightingPairs(tmp_path, "train", list(LIGHTING_PRESETS))


def test_shadow_changed_is_a_visibility_change_on_geometry():
    source = np.array([[[[1.0], [1.0], [0.0]]]])
    target = np.array([[[[0.0], [0.8], [0.0]]]])
    mask = np.array([[[[1.0], [1.0], [1.0]]]])
    assert shadow_changed(source, target, mask).tolist() == [[[True, False, False]]]
    assert not shadow_changed(source, target, np.zeros_like(mask)).any()


def test_task_batches_pack_the_source_frame_and_the_condition(relighting_data):
    from uruk_hf import UrukWS4Remapper, UrukWS4RemapperConfig
    from uruk_hf.training.tasks.relighting import RelightingTask

    config = UrukWS4RemapperConfig.from_preset("tiny")
    task = RelightingTask(config)
    dataset = task.dataset(relighting_data, "train")
    assert len(dataset) == 12 * len(load_split(relighting_data, "train", ["scene_id"])["scene_id"])
    items = [dataset[index] for index in range(3)]
    batch = task.collate(items)
    assert batch["pixel_values"].shape == (3, config.num_channels, 24, 24)
    assert batch["condition"].shape == (3, 12)
    for row, item in enumerate(items):
        assert batch["condition"][row, item["source"]] == 1 and batch["condition"][row, 4 + item["target"]] == 1
        assert batch["condition"][row, :8].sum() == 2
        source = torch.from_numpy(item["source_frame"].astype(np.float32)).permute(2, 0, 1)
        packed = batch["pixel_values"][row, config.buffer_slice("source_frame")]
        torch.testing.assert_close(packed, torch.log1p(source))
        emission = torch.from_numpy(item["target_emission"].astype(np.float32)).permute(2, 0, 1)
        packed = batch["pixel_values"][row, config.buffer_slice("target_emission")]
        torch.testing.assert_close(packed, torch.log1p(emission))
        # The target frame is the label, never an input.
        target = torch.log1p(torch.from_numpy(item["target_frame"].astype(np.float32)).permute(2, 0, 1))
        assert not any(
            torch.equal(batch["pixel_values"][row, channel : channel + 3], target)
            for channel in range(config.num_channels - 2)
        )
    model = UrukWS4Remapper(config).eval()
    metrics = task.evaluate(model, task.dataset(relighting_data, "test"))
    assert {"psnr", "psnr_shadow_changed", "psnr_noon_to_night"} <= set(metrics)
    baselines = task.gate_baselines(task.dataset(relighting_data, "test"))
    # An untrained remapper keeps the light its source's surfaces reflect and shows the target's sky and lamps in
    # place of the source's: already well above the identity (the source frame as it is).
    assert metrics["psnr"] > baselines["identity"]["psnr"] + 1.0
