"""Scene generation: seeded, varied, every class, scene kind and prop kind present, ids that carry no class."""

from collections import Counter

import numpy as np

from uruk_hf.data.rendering.materials import MATERIAL_RECIPES
from uruk_hf.data.rendering.scenes import OBJECT_KINDS, OUTDOOR_PROPS, ROOM_PROPS, SCENE_KINDS, generate_scene
from uruk_hf.schema import MATERIAL_CLASSES


def test_same_seed_same_scene_and_clips_differ():
    first, again, other = generate_scene(3, 5, 4), generate_scene(3, 5, 4), generate_scene(3, 6, 4)
    assert [o.name for o in first.objects] == [o.name for o in again.objects]
    for a, b in zip(first.objects, again.objects):
        assert a.object_id == b.object_id and np.array_equal(a.to_world, b.to_world)
        if a.material is not None:
            assert np.array_equal(a.material.texture, b.material.texture)
    np.testing.assert_array_equal(first.camera_origins, again.camera_origins)
    assert not np.array_equal(first.camera_origins, other.camera_origins)


def test_kinds_classes_and_fixed_structure():
    specs = [generate_scene(0, clip, 2) for clip in range(80)]
    assert {spec.kind for spec in specs} == set(SCENE_KINDS)
    kinds = Counter(obj.kind for spec in specs for obj in spec.objects)
    assert set(OBJECT_KINDS) <= set(kinds)
    classes = {obj.label for spec in specs for obj in spec.objects if obj.material is not None}
    assert classes == set(range(len(MATERIAL_CLASSES))) and set(MATERIAL_RECIPES) == set(MATERIAL_CLASSES)
    structures = set()
    for spec in specs:
        props = [obj for obj in spec.objects if obj.kind in OBJECT_KINDS]
        lights = [obj for obj in spec.objects if obj.kind == "light"]
        glowing = [obj for obj in props if obj.radiance is not None]
        assert all(obj.material is None and obj.label == -100 for obj in glowing)
        assert len(props) == (OUTDOOR_PROPS if spec.kind in ("outdoor", "night") else ROOM_PROPS)
        if spec.kind == "outdoor":
            assert not lights and spec.strongest_light() is None and spec.sun_direction is not None
        else:
            assert lights and spec.strongest_light() in lights and spec.sun_direction is None
        structures.add((len(spec.objects), len(lights), len(glowing), spec.sky_radiance is not None))
        ids = [obj.object_id for obj in spec.objects]
        assert len(set(ids)) == len(ids) and min(ids) >= 1 and max(ids) <= 255
        for obj in props:
            vertices, faces, uvs, normals = obj.mesh
            assert faces.max() < len(vertices) == len(uvs) == len(normals)
            np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    # Few distinct structures: Dr.Jit compiles once per structure and process, not once per scene.
    assert len(structures) <= 30


def test_cameras_spread_over_field_of_view_height_and_exposure():
    specs = [generate_scene(2, clip, 3) for clip in range(80)]
    fovs = [spec.fov for spec in specs]
    heights = [spec.camera_origins[0, 1] for spec in specs]
    assert min(fovs) < 40 and max(fovs) > 80 and min(heights) < 0.8 and max(heights) > 2.5
    radiances = [obj.radiance.mean() for spec in specs for obj in spec.objects if obj.kind == "light"]
    assert max(radiances) / min(radiances) > 30


def test_material_ids_carry_no_class():
    """An id -> class lookup fit on some scenes does no better than the majority class on others."""
    objects = [obj for clip in range(300) for obj in generate_scene(1, clip, 1).objects if obj.material is not None]
    train, test = objects[: len(objects) // 2], objects[len(objects) // 2 :]
    majority = Counter(obj.label for obj in train).most_common(1)[0][0]
    by_id = {}
    for obj in train:
        by_id.setdefault(obj.object_id, Counter())[obj.label] += 1
    lookup = {object_id: counts.most_common(1)[0][0] for object_id, counts in by_id.items()}
    lookup_accuracy = np.mean([lookup.get(obj.object_id, majority) == obj.label for obj in test])
    majority_accuracy = np.mean([majority == obj.label for obj in test])
    assert lookup_accuracy <= majority_accuracy + 0.03
