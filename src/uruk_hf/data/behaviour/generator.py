"""The `npc_episodes` dataset kind: NPC episodes of the tick simulator (`simulator.py`) on procedural maps, one
map and one episode per item, so that the splits never share a map.

Each row holds the episode's observations `(ticks, features)`, the FSM's state and move per tick (the labels:
never an input), the map and the episode's outcome. Finalizing computes the baselines on the test split (majority
state, copy-previous-state, a memoryless MLP on the current tick) and writes the dataset card.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..folder import DatasetGenerator, dataset_card, load_split
from .maps import MOVES, generate_map
from .metrics import decision_metrics
from .simulator import NPC_STATES, OBSERVATION_FEATURES, EpisodeSettings, run_episode

__all__ = ["NPC_EPISODES", "NPC_PRESETS", "NPCDataPreset", "NPCEpisodeGenerator", "npc_baselines"]


@dataclass(frozen=True)
class NPCDataPreset:
    """How many episodes, how long, on how large maps.

    Attributes:
        name (`str`): `tiny`, `quick` or `full`.
        num_episodes (`int`): episodes (each on its own map).
        ticks (`int`): ticks per episode.
        map_size (`int`): cells a side.
        episodes_per_chunk (`int`): episodes per Parquet file.
        validation_fraction, test_fraction (`float`): share of chunks in each held-out split.
    """

    name: str
    num_episodes: int
    ticks: int
    map_size: int = 24
    episodes_per_chunk: int = 16
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    @property
    def num_items(self) -> int:
        return self.num_episodes

    @property
    def items_per_chunk(self) -> int:
        return self.episodes_per_chunk


NPC_PRESETS = {
    "tiny": NPCDataPreset("tiny", 12, 96, episodes_per_chunk=2),
    "quick": NPCDataPreset("quick", 640, 256),
    "full": NPCDataPreset("full", 20_000, 512, episodes_per_chunk=100),
}
"""`tiny`: 12 short episodes (tests). `quick`: 640 episodes of 256 ticks (164k ticks, seconds to simulate).
`full`: 20,000 episodes of 512 ticks."""


class _EpisodeWorker:
    def __init__(self, preset: NPCDataPreset, seed: int):
        self.preset, self.seed, self.seconds = preset, seed, 0.0

    def rows(self, index: int, split: str) -> list[dict]:
        import time

        started = time.perf_counter()
        world = generate_map(np.random.default_rng([self.seed, index]), self.preset.map_size)
        episode_seed = int(np.random.default_rng([self.seed, index, 1]).integers(2**62))
        episode = run_episode(world, episode_seed, EpisodeSettings(ticks=self.preset.ticks))
        self.seconds += time.perf_counter() - started
        return [
            {
                "observations": episode["observations"],
                "states": episode["states"],
                "moves": episode["moves"],
                "map": world.cells,
                "episode_id": index,
                "episode_seed": episode_seed,
                "first_sighting": episode["first_sighting"],
                "hits": episode["hits"],
                "player_hits": episode["player_hits"],
                "flee_ticks": episode["flee_ticks"],
            }
        ]

    def timing(self) -> dict:
        return {"simulation_seconds": self.seconds}


def _memoryless_mlp(folder: Path, seed: int) -> dict[str, np.ndarray]:
    """An MLP on the current tick's observation alone (34 -> 128 -> 128 -> states + moves), early-stopped on the
    validation split's state accuracy; returns its test-split predictions."""
    import torch

    splits = {
        split: load_split(folder, split, ["observations", "states", "moves"])
        for split in ("train", "validation", "test")
    }
    torch.manual_seed(seed)
    network = torch.nn.Sequential(
        torch.nn.Linear(len(OBSERVATION_FEATURES), 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, len(NPC_STATES) + len(MOVES)),
    )  # fmt: skip
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-3)

    def flat(split):
        data = splits[split]
        return (
            torch.from_numpy(data["observations"].reshape(-1, len(OBSERVATION_FEATURES))),
            torch.from_numpy(data["states"].reshape(-1).astype(np.int64)),
            torch.from_numpy(data["moves"].reshape(-1).astype(np.int64)),
        )

    def predict(inputs):
        with torch.no_grad():
            logits = network(inputs)
        return logits[:, : len(NPC_STATES)].argmax(1), logits[:, len(NPC_STATES) :].argmax(1)

    inputs, states, moves = flat("train")
    validation = flat("validation")
    best, best_state, stale = -1.0, None, 0
    generator = torch.Generator().manual_seed(seed)
    for _ in range(30):
        for batch in torch.randperm(len(inputs), generator=generator).split(512):
            logits = network(inputs[batch])
            loss = torch.nn.functional.cross_entropy(logits[:, : len(NPC_STATES)], states[batch])
            loss = loss + torch.nn.functional.cross_entropy(logits[:, len(NPC_STATES) :], moves[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        accuracy = float((predict(validation[0])[0] == validation[1]).float().mean())
        if accuracy > best:
            best, best_state, stale = accuracy, {k: v.clone() for k, v in network.state_dict().items()}, 0
        else:
            stale += 1
            if stale >= 3:
                break
    network.load_state_dict(best_state)
    test_states, test_moves = predict(flat("test")[0])
    shape = splits["test"]["states"].shape
    return {"states": test_states.numpy().reshape(shape), "moves": test_moves.numpy().reshape(shape)}


def npc_baselines(folder: str | Path, seed: int = 0) -> dict:
    """The baselines on the test split: `majority` (the training split's most common state and move),
    `copy_previous_state` (the FSM's true previous state and move: a per-tick ceiling a controller without that
    label cannot reach on transitions) and `memoryless_mlp` (the current tick alone)."""
    folder = Path(folder)
    train = load_split(folder, "train", ["states", "moves"])
    test = load_split(folder, "test", ["states", "moves"])
    states, moves = test["states"].astype(np.int64), test["moves"].astype(np.int64)
    majority_state = int(np.bincount(train["states"].reshape(-1).astype(np.int64)).argmax())
    majority_move = int(np.bincount(train["moves"].reshape(-1).astype(np.int64)).argmax())
    previous_states = np.concatenate([states[:, :1], states[:, :-1]], axis=1)
    previous_moves = np.concatenate([moves[:, :1], moves[:, :-1]], axis=1)
    mlp = _memoryless_mlp(folder, seed)
    return {
        "split": "test",
        "ticks": int(states.size),
        "baselines": {
            "majority": decision_metrics(
                np.full_like(states, majority_state), np.full_like(moves, majority_move), states, moves
            ),
            "copy_previous_state": decision_metrics(previous_states, previous_moves, states, moves),
            "memoryless_mlp": decision_metrics(mlp["states"], mlp["moves"], states, moves),
        },
    }


def _card(folder: Path, record: dict, baselines: dict) -> str:
    preset = record["preset"]
    counts = {}
    for chunk, split in enumerate(record["splits"]):
        episodes = min(preset["episodes_per_chunk"], preset["num_episodes"] - chunk * preset["episodes_per_chunk"])
        counts[split] = counts.get(split, 0) + episodes
    rows = "\n".join(
        f"| {name} | {100 * m['state_accuracy']:.2f} | {100 * m['state_macro_f1']:.2f} | "
        f"{100 * m['transition_accuracy']:.2f} | {100 * m['move_accuracy']:.2f} |"
        for name, m in baselines["baselines"].items()
    )
    settings = asdict(EpisodeSettings(ticks=preset["ticks"]))
    body = f"""# Uruk NPC episodes ({preset["name"]} preset)

Episodes of a tick-based NPC simulator on procedural grid maps (rooms, corridors, cover), generated by `uruk_hf`
(generator {record["generator_version"]}, seed {record["seed"]}):

```bash
uruk data generate --kind npc_episodes --preset {preset["name"]} --seed {record["seed"]} --output DIR
```

A scripted player of random temperament walks the map, makes noise and shoots at the NPC; the NPC is driven by a
designer-style finite-state machine over {len(NPC_STATES)} states ({", ".join(NPC_STATES)}) and {len(MOVES)} moves
(stay and 8 directions) with hidden timers (idle {settings["idle_ticks"]} ticks, investigate
{settings["investigate_ticks"]}, alert {settings["alert_ticks"]}, give up a chase after {settings["lose_sight_ticks"]}
ticks without sight, flee {settings["flee_ticks"]}) and {100 * settings["sensor_noise"]:.0f}% of its visibility
readings flipped. This is a procedural behaviour, not recorded play: a model trained here imitates this FSM.

- {sum(counts.values())} episodes of {preset["ticks"]} ticks ({", ".join(f"{s} {n}" for s, n in counts.items())}),
  one {preset["map_size"]}x{preset["map_size"]} map each; splits are disjoint by map.
- `observations`: ({preset["ticks"]}, {len(OBSERVATION_FEATURES)}) float32 per episode, the NPC's sensors per tick:
  {", ".join(OBSERVATION_FEATURES)}. The FSM's state is never among them.
- `states`, `moves`: the FSM's state and move per tick (int8); `map`: the grid (0 floor, 1 wall, 2 cover);
  `episode_seed` replays the episode; `first_sighting`, `hits`, `player_hits`, `flee_ticks`: its outcome.

## Baselines (test split, {baselines["ticks"]} ticks), %

| baseline | state accuracy | macro-F1 | transition-tick accuracy | move accuracy |
|---|---|---|---|---|
{rows}

`copy_previous_state` reads the FSM's true previous state, which no controller is given: it shows how much of a
per-tick accuracy is the state simply persisting; it is right on no transition tick.
"""
    return dataset_card(
        body,
        counts,
        tags=["game-ai", "npc", "behaviour-cloning", "synthetic", "uruk"],
        task_categories=["time-series-forecasting"],
    )


class NPCEpisodeGenerator(DatasetGenerator):
    """NPC episodes of the tick simulator (see the module docstring)."""

    kind = "npc_episodes"
    version = "1.0"
    presets = NPC_PRESETS
    report_baselines = ("majority", "copy_previous_state", "memoryless_mlp")

    def features(self, preset: NPCDataPreset):
        from datasets import Array2D, Features, Sequence, Value

        return Features(
            {
                "observations": Array2D((preset.ticks, len(OBSERVATION_FEATURES)), "float32"),
                "states": Sequence(Value("int8"), length=preset.ticks),
                "moves": Sequence(Value("int8"), length=preset.ticks),
                "map": Array2D((preset.map_size, preset.map_size), "int8"),
                "episode_id": Value("int32"),
                "episode_seed": Value("int64"),
                "first_sighting": Value("int32"),
                "hits": Value("int32"),
                "player_hits": Value("int32"),
                "flee_ticks": Value("int32"),
            }
        )

    def environment(self, variant: str | None) -> dict:
        """Nothing beyond the seed and preset decides the bytes (numpy's generators are stable)."""
        return {}

    def start(self, preset: NPCDataPreset, seed: int, environment: dict) -> _EpisodeWorker:
        return _EpisodeWorker(preset, seed)

    def measure_baselines(self, folder: Path, record: dict) -> dict:
        return npc_baselines(folder, record["seed"])

    def card(self, folder: Path, record: dict, baselines: dict) -> str:
        return _card(folder, record, baselines)

    def describe_baselines(self, results: dict) -> str:
        from ...tables import format_metric, format_table

        keys = ("state_accuracy", "transition_accuracy", "state_macro_f1", "move_accuracy")
        rows = [
            [name, *(format_metric(key, metrics[key]) for key in keys)]
            for name, metrics in results["baselines"].items()
        ]
        heading = f"Baselines on the {results['split']} split ({results['ticks']} ticks), %:"
        headers = ["baseline", "state acc.", "transition acc.", "macro-F1", "move acc."]
        return heading + "\n" + format_table(headers, rows)


NPC_EPISODES = NPCEpisodeGenerator()
"""The generator of NPC Director's datasets."""
