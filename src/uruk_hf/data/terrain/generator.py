"""The `world_maps` dataset kind: maps of the procedural terrain generator (`procedural.py`), one per item, each
made from random settings (`sample_knobs`) and stored with the knobs measured from it (`measure_knobs`), which is
what a model is conditioned on: a request that the stored map meets exactly.

Finalizing scores the baselines on the test split's knob vectors (held-out combinations: no map of the training
split has them) and writes the dataset card:
- `procedural_generator`: the generator itself asked for each test request (a new random seed): how far its maps'
  measured knobs land from the request, and how different two of its maps for one request are;
- `nearest_neighbour`: the training map whose knobs are nearest to the request (strong, and deterministic);
- `mean_map`: the per-cell mean of the training maps, decoded (one map for every request).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...schema import WORLD_KNOBS, WORLD_MAP_CHANNELS, WORLD_MATERIALS
from ..folder import DatasetGenerator, dataset_card, load_split, open_split, resolve_preset
from .procedural import generate_world, sample_knobs
from .worldmap import WorldMap, measure_knobs

__all__ = [
    "KNOB_ADHERENCE_COLUMNS",
    "WORLD_MAPS",
    "WORLD_PRESETS",
    "WorldMapGenerator",
    "WorldPreset",
    "fixed_knob_diversity",
    "knob_error",
    "load_worlds",
    "map_difference",
    "nearest_neighbour_worlds",
    "with_retrieval_ratio",
]


@dataclass(frozen=True)
class WorldPreset:
    """How many maps of what size.

    Attributes:
        name (`str`): `tiny`, `quick` or `full`.
        num_maps (`int`): maps.
        size (`int`): cells a side.
        maps_per_chunk (`int`): maps per Parquet file.
        validation_fraction, test_fraction (`float`): share of chunks in each held-out split.
        diversity_requests, diversity_samples (`int`): requests and samples per request of the diversity measure.
    """

    name: str
    num_maps: int
    size: int = 64
    maps_per_chunk: int = 200
    validation_fraction: float = 0.05
    test_fraction: float = 0.05
    diversity_requests: int = 8
    diversity_samples: int = 4

    @property
    def num_items(self) -> int:
        return self.num_maps

    @property
    def items_per_chunk(self) -> int:
        return self.maps_per_chunk


WORLD_PRESETS = {
    "tiny": WorldPreset("tiny", 60, 64, 10, 0.2, 0.2, 2, 2),
    "quick": WorldPreset("quick", 4000),
    "full": WorldPreset("full", 200_000, 64, 2000, 0.01, 0.01, 32, 8),
}
"""`tiny`: 60 maps (tests). `quick`: 4,000 maps of 64x64. `full`: 200,000."""


class _WorldWorker:
    def __init__(self, preset: WorldPreset, seed: int):
        self.preset, self.seed = preset, seed

    def rows(self, index: int, split: str) -> list[dict]:
        map_seed = int(np.random.default_rng([self.seed, index]).integers(2**62))
        rng = np.random.default_rng(map_seed)
        settings = sample_knobs(rng)
        world = generate_world(settings, rng, self.preset.size)
        return [
            {
                "height": world.height,
                "material": world.material.astype(np.int8),
                "props": world.props.astype(bool),
                "knobs": measure_knobs(world),
                "settings": settings,
                "map_id": index,
                "map_seed": map_seed,
            }
        ]

    def timing(self) -> dict:
        return {}


def _worlds(columns: dict[str, np.ndarray]) -> list[WorldMap]:
    """The maps of stacked `height`, `material` and `props` columns of a `world_maps` split."""
    return [
        WorldMap(height.astype(np.float32), material.astype(np.int64), props.astype(np.float32))
        for height, material, props in zip(columns["height"], columns["material"], columns["props"])
    ]


def load_worlds(folder: str | Path, split: str) -> tuple[list[WorldMap], np.ndarray]:
    """The maps of `split` and their measured knobs `(maps, len(WORLD_KNOBS))`."""
    data = load_split(folder, split, ["height", "material", "props", "knobs"])
    return _worlds(data), data["knobs"].astype(np.float32)


def knob_error(requests: np.ndarray, worlds: list[WorldMap]) -> dict[str, float]:
    """How far the measured knobs of `worlds` land from `requests` (one row per map): `knob_error`, the mean
    absolute difference over every knob and map, its standard error over the maps (`knob_error_standard_error`:
    the spread of the per-map errors over the square root of their count), and the same mean per knob group."""
    measured = np.stack([measure_knobs(world) for world in worlds])
    difference = np.abs(measured - np.asarray(requests))
    per_map = difference.mean(axis=1)
    spread = float(per_map.std(ddof=1) / np.sqrt(len(per_map))) if len(per_map) > 1 else float("nan")
    groups = {
        "water_error": [WORLD_KNOBS.index("water_fraction")],
        "relief_error": [WORLD_KNOBS.index(name) for name in WORLD_KNOBS[1:9]],
        "props_error": [WORLD_KNOBS.index("prop_density")],
        "biome_error": [WORLD_KNOBS.index(f"{name}_share") for name in WORLD_MATERIALS[1:]],
    }
    return {"knob_error": float(difference.mean()), "knob_error_standard_error": spread,
            **{name: float(difference[:, columns].mean()) for name, columns in groups.items()}}  # fmt: skip


def nearest_neighbour_worlds(folder: str | Path, requests: np.ndarray) -> list[WorldMap]:
    """For each row of `requests`, the map of the training split of `folder` whose measured knobs are nearest
    (squared distance): the nearest-neighbour retrieval baseline. Reads the training knobs and only the chosen maps."""
    train = open_split(folder, "train")
    train_knobs = np.asarray(train.select_columns(["knobs"]).with_format("numpy")["knobs"], dtype=np.float32)
    requests = np.asarray(requests, dtype=np.float32)
    nearest = [int(np.argmin(((train_knobs - request) ** 2).sum(-1))) for request in requests]
    return _worlds(train.select(nearest).select_columns(["height", "material", "props"]).with_format("numpy")[:])


def with_retrieval_ratio(metrics: dict[str, float], retrieval: dict[str, float]) -> dict[str, float]:
    """`metrics` with `knob_error_to_retrieval`: its knob error over that of nearest-neighbour retrieval
    (`retrieval`, measured on the same requests); WS3's bar is at most 0.5."""
    return {**metrics, "knob_error_to_retrieval": metrics["knob_error"] / retrieval["knob_error"]}


def map_difference(first: WorldMap, second: WorldMap) -> float:
    """How different two maps are: the share of cells whose material differs, plus the mean absolute height
    difference, halved (0: identical)."""
    return 0.5 * (
        float((first.material != second.material).mean()) + float(np.abs(first.height - second.height).mean())
    )


def fixed_knob_diversity(samples: list[list[WorldMap]]) -> float:
    """The mean `map_difference` over every pair of maps made for the same request (`samples[request]`)."""
    differences = [
        map_difference(group[i], group[j])
        for group in samples
        for i in range(len(group))
        for j in range(i + 1, len(group))
    ]
    return float(np.mean(differences)) if differences else 0.0


def world_baselines(folder: str | Path, preset: WorldPreset, seed: int = 0) -> dict:
    """The baselines on the test split (see the module docstring)."""
    train, _ = load_worlds(folder, "train")
    _, requests = load_worlds(folder, "test")
    rng = np.random.default_rng(seed)
    generated = [generate_world(request, rng, preset.size) for request in requests]
    diversity_requests = requests[: preset.diversity_requests]
    generator_groups = [
        [generate_world(request, rng, preset.size) for _ in range(preset.diversity_samples)]
        for request in diversity_requests
    ]
    retrieval = knob_error(requests, nearest_neighbour_worlds(folder, requests))
    mean_channels = np.mean([world.to_channels() for world in train], axis=0)
    mean_map = WorldMap.from_channels(mean_channels)
    baselines = {
        "procedural_generator": {
            **with_retrieval_ratio(knob_error(requests, generated), retrieval),
            "diversity": fixed_knob_diversity(generator_groups),
        },
        "nearest_neighbour": {**with_retrieval_ratio(retrieval, retrieval), "diversity": 0.0},
        "mean_map": {
            **with_retrieval_ratio(knob_error(requests, [mean_map] * len(requests)), retrieval),
            "diversity": 0.0,
        },
    }
    return {"split": "test", "unit": "maps", "maps": len(requests), "baselines": baselines}


class WorldMapGenerator(DatasetGenerator):
    """Maps of the procedural terrain generator (see the module docstring)."""

    kind = "world_maps"
    version = "1.0"
    presets = WORLD_PRESETS
    report_baselines = ("procedural_generator", "nearest_neighbour", "mean_map")

    def features(self, preset: WorldPreset):
        from datasets import Array2D, Features, Sequence, Value

        size = preset.size
        return Features(
            {
                "height": Array2D((size, size), "float32"),
                "material": Array2D((size, size), "int8"),
                "props": Array2D((size, size), "bool"),
                "knobs": Sequence(Value("float32"), length=len(WORLD_KNOBS)),
                "settings": Sequence(Value("float32"), length=len(WORLD_KNOBS)),
                "map_id": Value("int32"),
                "map_seed": Value("int64"),
            }
        )

    def environment(self, variant: str | None) -> dict:
        return {}

    def start(self, preset: WorldPreset, seed: int, environment: dict) -> _WorldWorker:
        return _WorldWorker(preset, seed)

    def measure_baselines(self, folder: Path, record: dict) -> dict:
        return world_baselines(folder, resolve_preset(self, record["preset"]["name"]))

    def card(self, folder: Path, record: dict, baselines: dict) -> str:
        return _card(record, baselines)

    def describe_baselines(self, results: dict) -> str:
        heading = f"Baselines on the {results['split']} split ({results['maps']} held-out knob vectors):"
        return heading + "\n" + baselines_table(results["baselines"])


KNOB_ADHERENCE_COLUMNS = (
    ("knob_error", "knob error"),
    ("water_error", "water"),
    ("relief_error", "relief"),
    ("props_error", "props"),
    ("biome_error", "biomes"),
    ("diversity", "diversity at fixed knobs"),
)
"""`(metric, header)` of what generated maps are scored on: the knob errors (overall and per knob group) and the
diversity at fixed knobs; the baselines' table and the WS3 task's report share them."""


def baselines_table(baselines: dict, markdown: bool = False) -> str:
    """The baselines as a plain-text (or Markdown) table."""
    from ...tables import baseline_table

    return baseline_table(baselines, KNOB_ADHERENCE_COLUMNS, markdown)


def _card(record: dict, baselines: dict) -> str:
    preset = record["preset"]
    splits = sorted(set(record["splits"]))
    body = f"""# Uruk world maps ({preset["name"]} preset)

Maps of a **procedural terrain generator written in the library** (`uruk_hf.data.terrain.procedural`): fractal
noise by spectral synthesis, thermal erosion, a water level, biomes from height and moisture, and props placed by
Poisson-disk sampling, all steered by {len(WORLD_KNOBS)} knobs. A model trained here learns this generator.
Generated by `uruk_hf` (generator {record["generator_version"]}, seed {record["seed"]}):

```bash
uruk data generate --kind world_maps --preset {preset["name"]} --seed {record["seed"]} --output DIR
```

- {preset["num_maps"]} maps of {preset["size"]}x{preset["size"]} cells; splits are disjoint by map.
- `height` (elevation in [0, 1]), `material` (per cell: {", ".join(WORLD_MATERIALS)}), `props` (a tree or rock
  stands there); `knobs`: the {len(WORLD_KNOBS)} knobs measured from the map ({", ".join(WORLD_KNOBS)}), each in
  [0, 1]; `settings`: the knobs the generator was asked for.
- As model channels ({", ".join(WORLD_MAP_CHANNELS)}): `uruk_hf.data.terrain.worldmap.WorldMap.to_channels`.

## Baselines (test split: {baselines["maps"]} held-out knob vectors)

Knob error: mean absolute difference between the requested knobs and those measured from the map made for them,
over every knob (each in [0, 1]), then per group. Diversity at fixed knobs: mean difference between two maps made
for one request (share of cells whose material differs, plus the mean height difference, halved).

{baselines_table(baselines["baselines"], markdown=True)}
"""
    return dataset_card(
        body, splits, tags=["procedural-generation", "terrain", "world-generation", "synthetic", "uruk"]
    )


WORLD_MAPS = WorldMapGenerator()
"""The generator of WS3's datasets."""
