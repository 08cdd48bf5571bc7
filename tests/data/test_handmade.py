"""The hand-made out-of-distribution scenes: labelled, unlike the generator's, rendered into a dataset folder."""

import json

import numpy as np
import pytest

from uruk_hf.data.folder import load_split
from uruk_hf.data.rendering.handmade import (
    HANDMADE_FRAMES,
    HANDMADE_SAMPLE_SEED,
    HANDMADE_SCENES,
    HOLDOUT_SCENES,
    handmade_scene,
    render_handmade_set,
)
from uruk_hf.data.rendering.scenes import SCENE_KINDS
from uruk_hf.schema import MATERIAL_CLASSES


@pytest.mark.parametrize("scenes", [HANDMADE_SCENES, HOLDOUT_SCENES], ids=["evaluation", "holdout"])
def test_scenes_are_labelled_and_not_generator_kinds(scenes):
    assert len(scenes) >= 4
    classes = set()
    for name in scenes:
        spec = handmade_scene(name)
        assert spec.kind == name and name not in SCENE_KINDS and spec.num_frames == HANDMADE_FRAMES
        ids = [obj.object_id for obj in spec.objects]
        assert len(set(ids)) == len(ids)
        for obj in spec.objects:
            # Every surface has a class; only emitters (lights, glowing spheres) have none.
            assert (obj.material is None) == (obj.radiance is not None)
            classes |= {obj.label} if obj.material is not None else set()
        assert any(obj.radiance is not None for obj in spec.objects) or spec.sun_direction is not None
    if scenes is HANDMADE_SCENES:
        assert classes == set(range(len(MATERIAL_CLASSES)))
    first, again = handmade_scene("still_life").objects[-3], handmade_scene("still_life").objects[-3]
    assert np.array_equal(first.material.texture, again.material.texture)
    with pytest.raises(ValueError, match="Unknown hand-made scene"):
        handmade_scene("nope")


def test_holdout_scenes_are_not_evaluation_scenes():
    """A held-out set that repeats an evaluation scene checks nothing: the two sets share no scene, camera path or
    texture."""
    assert not set(HOLDOUT_SCENES) & set(HANDMADE_SCENES)
    evaluation = [handmade_scene(name) for name in HANDMADE_SCENES]
    for name in HOLDOUT_SCENES:
        held_out = handmade_scene(name)
        for other in evaluation:
            assert not np.array_equal(held_out.camera_origins, other.camera_origins)
            textures = {obj.material.texture.tobytes() for obj in other.objects if obj.material is not None}
            assert not any(obj.material.texture.tobytes() in textures for obj in held_out.objects if obj.material)
    with pytest.raises(ValueError, match="Unknown hand-made collection"):
        render_handmade_set("unused", 16, collection="training")


@pytest.mark.slow
def test_render_set_is_a_test_split_and_reused(tmp_path):
    folder = render_handmade_set(tmp_path / "set", 16, ground_truth_spp=4)
    rows = load_split(folder, "test", ["ground_truth", "material_label", "scene_id", "scene_kind"])
    assert rows["ground_truth"].shape == (len(HANDMADE_SCENES) * HANDMADE_FRAMES, 16, 16, 3)
    assert set(rows["scene_kind"]) == set(HANDMADE_SCENES)
    record = json.loads((folder / "handmade.json").read_text())
    assert record["size"] == 16 and record["ground_truth_spp"] == 4
    stamp = (folder / "data" / "test-00000.parquet").stat().st_mtime_ns
    render_handmade_set(folder, 16, ground_truth_spp=4)  # the same settings: reused, not re-rendered
    assert (folder / "data" / "test-00000.parquet").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="not empty"):
        render_handmade_set(folder, 24, ground_truth_spp=4)
    with pytest.raises(FileExistsError, match="sample seed 14"):
        render_handmade_set(folder, 16, ground_truth_spp=4, sample_seed=HANDMADE_SAMPLE_SEED + 1)
    # Another sample seed: the same frames and G-buffer, other noise.
    resampled = render_handmade_set(
        tmp_path / "resampled", 16, ground_truth_spp=4, sample_seed=HANDMADE_SAMPLE_SEED + 1
    )
    again = load_split(resampled, "test", ["albedo", "material_id", "path_1spp"])
    first = load_split(folder, "test", ["albedo", "material_id", "path_1spp"])
    assert np.array_equal(again["albedo"], first["albedo"]) and np.array_equal(
        again["material_id"], first["material_id"]
    )
    assert not np.array_equal(again["path_1spp"], first["path_1spp"])
    assert json.loads((resampled / "handmade.json").read_text())["sample_seed"] == HANDMADE_SAMPLE_SEED + 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        render_handmade_set(tmp_path / "mine", 16, ground_truth_spp=4)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    holdout = render_handmade_set(tmp_path / "holdout", 16, ground_truth_spp=4, collection="holdout")
    rows = load_split(holdout, "test", ["ground_truth", "scene_kind"])
    assert rows["ground_truth"].shape == (len(HOLDOUT_SCENES) * HANDMADE_FRAMES, 16, 16, 3)
    assert set(rows["scene_kind"]) == set(HOLDOUT_SCENES)
    with pytest.raises(FileExistsError, match="hand-made evaluation set"):
        render_handmade_set(holdout, 16, ground_truth_spp=4)
