"""The terrain generator and the `world_maps` dataset kind: knobs measured as designed, the generator steered by
them, channels round-trip, the walkable grid, the dataset and its baselines at the tiny preset."""

import json

import numpy as np
import pytest

from uruk_hf.data.folder import generate_dataset, load_split
from uruk_hf.data.terrain.generator import WORLD_MAPS, knob_error, load_worlds, nearest_neighbour_worlds
from uruk_hf.data.terrain.procedural import generate_world, sample_knobs
from uruk_hf.data.terrain.worldmap import (
    WorldMap,
    measure_knobs,
    measure_knobs_from_channels,
    prop_density_field,
)
from uruk_hf.schema import WORLD_HEIGHT_LINEAR_KNOBS, WORLD_KNOBS, WORLD_MATERIALS, world_height_knob_patterns


def _knob(name):
    return WORLD_KNOBS.index(name)


def test_the_generator_hits_water_and_biomes_exactly_and_relief_roughly():
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(20):
        request = sample_knobs(rng)
        measured = measure_knobs(generate_world(request, rng))
        assert abs(measured[_knob("water_fraction")] - request[_knob("water_fraction")]) < 1e-3
        shares = [_knob(f"{name}_share") for name in WORLD_MATERIALS[1:]]
        assert np.abs(measured[shares] - request[shares]).max() < 2e-3
        errors.append(np.abs(measured - request).mean())
    assert np.mean(errors) < 0.05


def test_knobs_move_what_they_name():
    rng = np.random.default_rng(1)
    base = sample_knobs(rng)
    low, high = base.copy(), base.copy()
    low[_knob("tilt_x")], high[_knob("tilt_x")] = 0.2, 0.8
    assert (
        measure_knobs(generate_world(high, np.random.default_rng(2)))[_knob("tilt_x")]
        > measure_knobs(generate_world(low, np.random.default_rng(2)))[_knob("tilt_x")] + 0.3
    )
    sparse, dense = base.copy(), base.copy()
    sparse[_knob("prop_density")], dense[_knob("prop_density")] = 0.05, 0.8
    assert (
        generate_world(dense, np.random.default_rng(3)).props.sum()
        > 4 * generate_world(sparse, np.random.default_rng(3)).props.sum()
    )


def test_the_differentiable_measurement_of_channels_is_the_measurement_of_the_map():
    import torch

    rng = np.random.default_rng(6)
    worlds = [generate_world(sample_knobs(rng), rng) for _ in range(12)]
    channels = torch.from_numpy(np.stack([world.to_channels() for world in worlds])).requires_grad_()
    measured = measure_knobs_from_channels(channels)
    np.testing.assert_allclose(
        measured.detach().numpy(), np.stack([measure_knobs(world) for world in worlds]), atol=1e-4
    )
    # Every knob reaches the channels it is measured from: relief the height, shares the materials, props the
    # density.
    for knob, channel in (("tilt_x", 0), ("roughness", 0), ("grass_share", 3), ("prop_density", -1)):
        (gradient,) = torch.autograd.grad(measured[:, _knob(knob)].sum(), channels, retain_graph=True)
        assert gradient[:, channel].abs().sum() > 0, knob


def test_each_height_pattern_moves_its_own_knob_alone():
    flat = generate_world(sample_knobs(np.random.default_rng(7)), np.random.default_rng(8))
    flat = WorldMap(np.full_like(flat.height, 0.5), flat.material, flat.props)
    base = measure_knobs(flat)
    columns = [_knob(name) for name in WORLD_HEIGHT_LINEAR_KNOBS]
    for index, pattern in enumerate(world_height_knob_patterns(flat.size)):
        moved = measure_knobs(WorldMap(flat.height + 0.05 * pattern, flat.material, flat.props)) - base
        assert moved[columns[index]] > 0.03
        assert np.abs(np.delete(moved[columns], index)).max() < 1e-6


def test_channels_round_trip_and_bad_channels_are_refused():
    world = generate_world(sample_knobs(np.random.default_rng(4)), np.random.default_rng(5))
    channels = world.to_channels()
    assert channels.dtype == np.float32 and channels.flags["C_CONTIGUOUS"]  # a batch of them stacks channels-first
    back = WorldMap.from_channels(channels)
    np.testing.assert_allclose(back.height, world.height, atol=1e-6)
    assert np.array_equal(back.material, world.material)
    # Props travel as a density: the same count comes back, on land, none orthogonally adjacent, where they were.
    assert (
        back.props.sum() == world.props.sum() > 20
        and back.knobs()[_knob("prop_density")] == world.knobs()[_knob("prop_density")]
    )
    assert not back.props[world.material == WORLD_MATERIALS.index("water")].any()
    assert not (back.props[1:] * back.props[:-1]).any() and not (back.props[:, 1:] * back.props[:, :-1]).any()
    here, elsewhere = prop_density_field(world.props) > 0.05, prop_density_field(world.props) < 0.01
    assert back.props[here].mean() > 5 * max(back.props[elsewhere].mean(), 1e-3)
    with pytest.raises(ValueError, match=r"\(9, size, size\)"):
        WorldMap.from_channels(np.zeros((8, 64, 64)))
    with pytest.raises(ValueError, match="knobs must be 16 values"):
        generate_world(np.full(16, 1.5), np.random.default_rng(0))


def test_walkable_grid_is_a_simulator_map():
    from uruk_hf.data.behaviour.maps import FLOOR, WALL

    world = generate_world(sample_knobs(np.random.default_rng(6)), np.random.default_rng(7))
    grid = world.to_grid_map()
    water = world.material == WORLD_MATERIALS.index("water")
    assert (grid.cells[water] == WALL).all() and (grid.cells == FLOOR).sum() == world.walkable().sum() > 0


def test_dataset_is_deterministic_with_card_and_baselines(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    generate_dataset(WORLD_MAPS, first, "tiny", seed=0, progress=False)
    generate_dataset(WORLD_MAPS, second, "tiny", seed=0, progress=False)
    a, b = load_split(first, "train"), load_split(second, "train")
    assert np.array_equal(a["height"], b["height"]) and np.array_equal(a["knobs"], b["knobs"])
    worlds = [
        WorldMap(h, m.astype(np.int64), p.astype(np.float32))
        for h, m, p in zip(a["height"], a["material"], a["props"])
    ]
    assert knob_error(a["knobs"], worlds)["knob_error"] < 1e-6  # stored knobs are measured from the stored map
    baselines = json.loads((first / "baselines.json").read_text())["baselines"]
    assert baselines["procedural_generator"]["knob_error"] < baselines["nearest_neighbour"]["knob_error"]
    assert baselines["nearest_neighbour"]["knob_error"] < baselines["mean_map"]["knob_error"]
    ratios = {name: metrics["knob_error_to_retrieval"] for name, metrics in baselines.items()}
    assert ratios["nearest_neighbour"] == 1.0 and ratios["procedural_generator"] < 1.0 < ratios["mean_map"]
    assert "procedural terrain generator" in (first / "README.md").read_text()

    # retrieval reads only the chosen maps: the same ones as a search over every training map
    train, train_knobs = load_worlds(first, "train")
    _, requests = load_worlds(first, "test")
    retrieved = nearest_neighbour_worlds(first, requests)
    for request, world in zip(requests, retrieved):
        nearest = train[int(np.argmin(((train_knobs - request) ** 2).sum(-1)))]
        assert np.array_equal(world.height, nearest.height) and np.array_equal(world.material, nearest.material)


def test_knob_error_has_its_standard_error_over_the_maps():
    rng = np.random.default_rng(3)
    worlds = [generate_world(sample_knobs(rng), rng) for _ in range(5)]
    requests = np.stack([measure_knobs(world) for world in worlds])
    requests[:, 0] += np.array([0.0, 0.1, 0.2, 0.3, 0.4])  # one knob off by a different amount in each map
    per_map = np.abs(np.stack([measure_knobs(world) for world in worlds]) - requests).mean(axis=1)
    result = knob_error(requests, worlds)
    assert result["knob_error"] == pytest.approx(per_map.mean())
    assert result["knob_error_standard_error"] == pytest.approx(per_map.std(ddof=1) / np.sqrt(5))


def test_world_scene_has_a_mesh_per_surface_and_props():
    world = generate_world(sample_knobs(np.random.default_rng(8)), np.random.default_rng(9))
    spec = world.to_scene(seed=1)
    surfaces = [obj for obj in spec.objects if obj.name.startswith("surface_")]
    assert len(surfaces) == len(np.unique(world.material))
    assert sum(len(obj.mesh[1]) for obj in surfaces) == 2 * world.size**2  # two triangles per cell
    props = [obj for obj in spec.objects if obj.name.startswith("props_")]
    shapes = world.props.sum()
    assert 1 <= len(props) <= 2 and sum(len(obj.mesh[1]) for obj in props) >= shapes * 4 * 2  # prisms: 8+ triangles
    for obj in surfaces:
        vertices, faces, uvs, normals = obj.mesh
        assert faces.max() < len(vertices) and len(uvs) == len(normals) == len(vertices)
