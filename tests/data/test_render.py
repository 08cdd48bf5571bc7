"""The Mitsuba renderer: buffers as DESIGN §2 defines them, and a camera model that matches Mitsuba's sensor."""

import numpy as np
import pytest

from uruk_hf.data.rendering.generator import STORED_BUFFERS, centre_crop
from uruk_hf.data.rendering.geometry import project_points
from uruk_hf.data.rendering.render import ClipRenderer, RenderSettings, select_variant
from uruk_hf.data.rendering.scenes import generate_scene
from uruk_hf.schema import BUFFER_SPECS

SETTINGS = RenderSettings(20, 16, ground_truth_spp=8, direct_spp=4, ao_samples=4, shadow_samples=2)


@pytest.fixture(scope="module")
def clips():
    select_variant()
    renderer = ClipRenderer(SETTINGS)
    return {
        clip: (generate_scene(0, clip, 3), renderer.render_clip(generate_scene(0, clip, 3), 0, clip))
        for clip in (0, 1, 2)
    }


def test_every_buffer_with_its_shape(clips):
    for _, frames in clips.values():
        assert len(frames) == 3
        for frame in frames:
            assert "history" not in frame
            for name in STORED_BUFFERS:
                spec_entry = BUFFER_SPECS[name]
                assert frame[name].shape == (16, 20, spec_entry.channels) and frame[name].dtype == np.float32
                assert np.isfinite(frame[name]).all()
            assert frame["ground_truth"].shape == (16, 20, 3) and frame["material_label"].shape == (16, 20)


def test_buffers_are_consistent(clips):
    for _, frames in clips.values():
        for index, frame in enumerate(frames):
            mask = frame["mask"][..., 0] > 0
            assert mask.any()
            assert ((frame["depth"][..., 0] > 0) == mask).all()
            np.testing.assert_allclose(np.linalg.norm(frame["normal"][mask], axis=-1), 1.0, atol=1e-3)
            np.testing.assert_allclose(np.linalg.norm(frame["view"], axis=-1), 1.0, atol=1e-3)
            assert (frame["material_label"][~mask] == -100).all()
            assert set(np.unique(frame["material_label"][mask])) <= set(range(8)) | {-100}
            for name in ("ao", "shadow", "history_valid", "roughness", "metallic"):
                assert frame[name].min() >= 0 and frame[name].max() <= 1
            for name in ("direct", "path_1spp", "ground_truth", "albedo"):
                assert frame[name].min() >= 0
            if index == 0:
                assert not frame["motion"].any() and not frame["history_valid"].any()
            else:
                assert frame["history_valid"].mean() > 0.5 and np.abs(frame["motion"]).max() > 0


def test_camera_model_matches_mitsuba(clips):
    """Primary-ray hit points, projected with our camera model, land on the pixel centres they came from."""
    for spec, frames in clips.values():
        frame = frames[1]
        mask = frame["mask"][..., 0] > 0
        xy, in_front = project_points(
            frame["position"].astype(np.float64), spec.camera_origins[1], spec.camera_targets[1], spec.fov, 20, 16
        )
        ys, xs = np.meshgrid(np.arange(16) + 0.5, np.arange(20) + 0.5, indexing="ij")
        assert in_front[mask].all()
        np.testing.assert_allclose(xy[mask], np.stack([xs, ys], -1)[mask], atol=2e-2)


def test_motion_points_to_the_previous_position(clips):
    """A pixel's surface point, seen through the previous camera, is at pixel centre + motion."""
    spec, frames = clips[1]
    frame = frames[2]
    mask = frame["mask"][..., 0] > 0
    xy, _ = project_points(
        frame["position"].astype(np.float64), spec.camera_origins[1], spec.camera_targets[1], spec.fov, 20, 16
    )
    ys, xs = np.meshgrid(np.arange(16) + 0.5, np.arange(20) + 0.5, indexing="ij")
    np.testing.assert_allclose((np.stack([xs, ys], -1) + frame["motion"])[mask], xy[mask], atol=1e-3)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="Unknown Mitsuba variant 'vulkan_rgb'"):
        select_variant.__wrapped__("vulkan_rgb")


def test_a_centre_crop_is_the_render_of_the_narrowed_view():
    """`centre_crop(spec, 2)` rendered at 20x16 is the centre of the same view rendered at 40x32: the point-sampled
    buffers agree pixel for pixel, and motion (in pixels) too."""
    select_variant()
    spec = generate_scene(0, 1, 2)
    double = RenderSettings(40, 32, ground_truth_spp=1, direct_spp=1, ao_samples=1, shadow_samples=1)
    large = ClipRenderer(double).render_clip(spec, 0, 1)
    cropped = ClipRenderer(SETTINGS).render_clip(centre_crop(spec, 2.0), 0, 1)
    for big, small in zip(large, cropped):
        for name in ("position", "normal", "depth", "albedo", "mask", "motion", "material_label"):
            np.testing.assert_allclose(small[name], big[name][8:24, 10:30], atol=1e-3, err_msg=name)
    assert centre_crop(spec, 1.0) is spec
