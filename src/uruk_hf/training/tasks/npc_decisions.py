"""The task of NPC Director: per tick, the FSM's state and move from the NPC's observations so far.

Training items are whole episodes from their first tick; the loss is the cross-entropy of states and moves at
every tick. Evaluation runs every episode from its first tick, which gives exactly the decisions of a game stepping
the model a tick at a time (the attention window slides; tested); `evaluate(full=True)` adds the closed loop: the
model drives the NPC on the split's maps, a tick at a time through its `step`, while the FSM, fed the same
observations, gives the reference at every tick, and the same episodes driven by the FSM give the outcome to
compare with.
"""

from pathlib import Path

import numpy as np
import torch

from ...data.behaviour.maps import GridMap
from ...data.behaviour.metrics import decision_metrics
from ...data.behaviour.simulator import EpisodeSettings, NPCEpisode, run_episode
from ...data.folder import load_split
from ...schema import NPC_STATES
from .base import Task

__all__ = ["NPCDecisionTask", "NPCEpisodes", "closed_loop", "drive", "on_policy_episodes"]

CLOSED_LOOP_TICKS = 500
"""Ticks of each closed-loop episode."""

CLOSED_LOOP_EPISODES = 64
"""Maps of the evaluated split the closed loop runs on (the quick test split's 64: with 8, two runs of one recipe
differed by 4 points)."""


class NPCEpisodes(torch.utils.data.Dataset):
    """The episodes of one split of an `npc_episodes` folder, one item per episode.

    Args:
        folder: the dataset folder.
        split: `train`, `validation` or `test`.
        max_episodes: keep only the first episodes (Smoke, tests).
    """

    def __init__(self, folder: str | Path, split: str, max_episodes: int | None = None):
        columns = ["observations", "states", "moves", "map", "episode_seed"]
        data = load_split(folder, split, columns)
        count = len(data["states"]) if max_episodes is None else min(max_episodes, len(data["states"]))
        self.observations = data["observations"][:count].astype(np.float32)
        self.states = data["states"][:count].astype(np.int64)
        self.moves = data["moves"][:count].astype(np.int64)
        self.maps, self.episode_seeds = data["map"][:count], data["episode_seed"][:count]

    def extend(self, observations: np.ndarray, states: np.ndarray, moves: np.ndarray) -> None:
        """Adds episodes `(N, T, F)` with their labels `(N, T)` (T as this dataset's) to the training items."""
        self.observations = np.concatenate([self.observations, observations.astype(np.float32)])
        self.states = np.concatenate([self.states, states.astype(np.int64)])
        self.moves = np.concatenate([self.moves, moves.astype(np.int64)])

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, index: int) -> dict:
        return {
            "observations": self.observations[index],
            "state_labels": self.states[index],
            "move_labels": self.moves[index],
        }


def _decide(model, observations: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """State and move predictions `(N, T)` for episodes `(N, T, F)`, each run from its first tick (a PyTorch
    model or an ONNX Runtime one)."""
    states, moves = [], []
    with torch.inference_mode():
        for begin in range(0, len(observations), batch):
            outputs = model(torch.from_numpy(observations[begin : begin + batch]))
            states.append(outputs.state_logits.argmax(-1).numpy())
            moves.append(outputs.move_logits.argmax(-1).numpy())
    return np.concatenate(states), np.concatenate(moves)


def drive(model, worlds: list, seeds: list[int], settings: EpisodeSettings) -> list[dict]:
    """Episodes on `worlds` (seeds `seeds`) with the model driving the NPC, in lockstep, a tick at a time through
    the model's `step` (`UrukNPCDirector` or `UrukORTNPCDirector`: one call per tick for all of them); each result
    holds the FSM's reference decision on the same observations (`NPCEpisode.result`)."""
    episodes = [NPCEpisode(world, seed, settings) for world, seed in zip(worlds, seeds)]
    state = model.initial_state(len(episodes))
    for _ in range(settings.ticks):
        for episode in episodes:
            episode.observe()
        observations = np.stack([episode.observations[-1] for episode in episodes])[:, None].astype(np.float32)
        if isinstance(model, torch.nn.Module):
            observations = torch.from_numpy(observations)
        with torch.inference_mode():
            outputs = model.step(observations, **state)
        state = model.next_state(outputs)
        states = np.asarray(outputs.state_logits[:, 0].argmax(-1)).tolist()
        moves = np.asarray(outputs.move_logits[:, 0].argmax(-1)).tolist()
        for episode, state_index, move in zip(episodes, states, moves):
            episode.act(state_index, move)
    return [episode.result() for episode in episodes]


def on_policy_episodes(model, dataset: NPCEpisodes, episodes: int, seed_offset: int = 1) -> dict[str, np.ndarray]:
    """DAgger's data (Ross et al. 2011): the model drives the NPC on the first `episodes` maps of `dataset` (new
    episodes: seeds offset by `seed_offset`) and the FSM labels every tick it reached, so that training sees the
    situations the model's own mistakes lead to. Returns `observations`, `states`, `moves` (the FSM's)."""
    count = min(episodes, len(dataset.maps))
    worlds = [GridMap(np.asarray(dataset.maps[index], np.int8)) for index in range(count)]
    seeds = [int(dataset.episode_seeds[index]) + seed_offset for index in range(count)]
    runs = drive(model, worlds, seeds, EpisodeSettings(ticks=dataset.states.shape[1]))
    return {
        "observations": np.stack([run["observations"] for run in runs]),
        "states": np.stack([run["reference_states"] for run in runs]),
        "moves": np.stack([run["reference_moves"] for run in runs]),
    }


def closed_loop(
    model, dataset: NPCEpisodes, episodes: int = CLOSED_LOOP_EPISODES, ticks: int = CLOSED_LOOP_TICKS
) -> dict:
    """The model drives the NPC for `ticks` on the first `episodes` maps of `dataset` (the FSM, fed the same
    observations, is the reference; the episodes step in lockstep, one model call per tick for all of them); the
    same episodes driven by the FSM give the outcome to compare with. Returns the agreement (state and move) and
    outcome statistics of both drivers."""
    settings = EpisodeSettings(ticks=ticks)
    count = min(episodes, len(dataset.maps))
    worlds = [GridMap(np.asarray(dataset.maps[index], np.int8)) for index in range(count)]
    seeds = [int(dataset.episode_seeds[index]) for index in range(count)]
    driven = drive(model, worlds, seeds, settings)
    scripted = [run_episode(world, seed, settings) for world, seed in zip(worlds, seeds)]

    def outcome(runs, prefix):
        sighted = [run["first_sighting"] for run in runs if run["first_sighting"] >= 0]
        return {
            f"{prefix}_first_sighting_tick": float(np.mean(sighted)) if sighted else -1.0,
            f"{prefix}_hits_per_episode": float(np.mean([run["hits"] for run in runs])),
            f"{prefix}_hits_taken_per_episode": float(np.mean([run["player_hits"] for run in runs])),
            f"{prefix}_flee_rate": float(np.mean([run["flee_ticks"] / ticks for run in runs])),
        }

    def stacked(key):
        return np.stack([run[key] for run in driven])

    return {
        "closed_loop_agreement": float((stacked("states") == stacked("reference_states")).mean()),
        "closed_loop_move_agreement": float((stacked("moves") == stacked("reference_moves")).mean()),
        "closed_loop_episodes": count,
        "closed_loop_ticks": ticks,
        **outcome(driven, "model"),
        **outcome(scripted, "fsm"),
    }


class NPCDecisionTask(Task):
    """NPC Director's task (see the module docstring). Gates compare the state accuracy with the validation
    split's majority state; `gate_margin_scale` turns the preset's margin into accuracy points."""

    gate_metric = "state_accuracy"
    gate_baseline = "majority"
    gate_margin_scale = 0.01
    report_columns = (
        ("state_accuracy", "state acc. %"),
        ("transition_accuracy", "transition-tick acc. %"),
        ("state_macro_f1", "macro-F1 %"),
        ("move_accuracy", "move acc. %"),
        ("closed_loop_agreement", "closed-loop agreement %"),
        ("closed_loop_move_agreement", "closed-loop move agreement %"),
    )
    curve_metrics = (
        ("state_accuracy", "validation state accuracy (%)"),
        ("transition_accuracy", "validation transition-tick accuracy (%)"),
    )
    int8_metrics = ("state_accuracy", "transition_accuracy", "move_accuracy")
    card_template = "model_card_decisions.md.j2"
    card_tags = ("game-ai", "npc", "behaviour-cloning", "pytorch", "onnx")

    def dataset(self, data, split: str, max_items: int | None = None) -> NPCEpisodes:
        return NPCEpisodes(data, split, max_episodes=max_items)

    def collate(self, items: list[dict]) -> dict:
        return {name: torch.from_numpy(np.stack([item[name] for item in items])) for name in items[0]}

    def forward(self, model, batch: dict):
        return model(batch["observations"])

    def loss(self, outputs, batch: dict, weights) -> torch.Tensor:
        states = torch.nn.functional.cross_entropy(outputs.state_logits.flatten(0, 1), batch["state_labels"].flatten())
        moves = torch.nn.functional.cross_entropy(outputs.move_logits.flatten(0, 1), batch["move_labels"].flatten())
        return states + self.config.move_loss_weight * moves

    def evaluate(self, model, dataset: NPCEpisodes, full: bool = False) -> dict[str, float]:
        """`decision_metrics` over every tick of the split's episodes, and with `full` the closed loop
        (`closed_loop`)."""
        states, moves = _decide(model, dataset.observations)
        metrics = decision_metrics(states, moves, dataset.states, dataset.moves)
        if full:
            metrics.update(closed_loop(model, dataset))
        return metrics

    def gate_baselines(self, dataset: NPCEpisodes) -> dict[str, dict[str, float]]:
        """The majority state and move, and the FSM's true previous state, on `dataset`."""
        states, moves = dataset.states, dataset.moves
        majority = np.full_like(states, np.bincount(states.reshape(-1)).argmax())
        majority_moves = np.full_like(moves, np.bincount(moves.reshape(-1)).argmax())
        previous = np.concatenate([states[:, :1], states[:, :-1]], axis=1)
        previous_moves = np.concatenate([moves[:, :1], moves[:, :-1]], axis=1)
        return {
            "majority": decision_metrics(majority, majority_moves, states, moves),
            "copy_previous_state": decision_metrics(previous, previous_moves, states, moves),
        }

    def selection_score(self, metrics: dict, weights) -> float:
        """State accuracy plus transition-tick accuracy: a checkpoint that only holds states is not the best."""
        return float(metrics["state_accuracy"]) + float(metrics["transition_accuracy"])

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        """State, transition-tick and move accuracy and macro-F1, as classification results."""
        keys = ("state_accuracy", "transition_accuracy", "state_macro_f1", "move_accuracy")
        return [("tabular-classification", key, float(metrics[key])) for key in keys if key in metrics]

    def outputs_finite(self, outputs) -> bool:
        return bool(torch.isfinite(outputs.state_logits).all() and torch.isfinite(outputs.move_logits).all())

    def outputs_difference(self, first, second) -> float:
        return max(
            float((first.state_logits - second.state_logits).abs().max()),
            float((first.move_logits - second.move_logits).abs().max()),
        )

    # Publishing ---------------------------------------------------------------------------------------------
    def calibration_inputs(self, model, dataset: NPCEpisodes, max_items: int = 64) -> list[dict]:
        """The exported step's inputs (by ONNX name) at `max_items` ticks spread over the split's first 8 episodes
        (the model's own state on its way through them), for static int8 calibration: each entry one NPC (a batch
        of one), the episodes in turn."""
        from ...models.npc_director.modeling_npc_director import step_feed

        episodes = min(8, len(dataset))
        observations = torch.from_numpy(dataset.observations[:episodes])
        ticks = observations.shape[1]
        chosen = set(np.linspace(0, ticks - 1, max_items).astype(int).tolist())
        state, entries = model.initial_state(len(observations)), []
        with torch.inference_mode():
            for tick in range(ticks):
                inputs = {"observations": observations[:, tick : tick + 1], **state}
                if tick in chosen:
                    row = len(entries) % episodes
                    entries.append({name: value[row : row + 1] for name, value in step_feed(**inputs).items()})
                state = model.next_state(model.step(**inputs))
        return entries

    def onnx_model(self, folder: Path, file_name: str):
        from ...models.npc_director.modeling_ort_npc_director import UrukORTNPCDirector

        return UrukORTNPCDirector.from_pretrained(folder, file_name=file_name)

    def write_examples(self, model, dataset: NPCEpisodes, path: Path, items: int = 3) -> str:
        """A timeline per test episode: the FSM's state per tick above the model's (one colour per state)."""
        from PIL import Image

        from ...file_utils import atomic_path

        colours = {
            "grey": (200, 200, 200), "green": (80, 160, 80), "yellow": (230, 200, 60), "orange": (240, 140, 40),
            "red": (220, 60, 60), "dark red": (150, 30, 30), "blue": (90, 90, 220), "cyan": (60, 170, 200),
        }  # fmt: skip
        palette = np.array(list(colours.values()), np.uint8)
        count = min(items, len(dataset.states))
        predicted, _ = _decide(model, dataset.observations[:count])
        rows = []
        for episode in range(count):
            for states in (dataset.states[episode], predicted[episode]):
                rows.append(np.repeat(palette[states][None], 6, axis=0))
            rows.append(np.full((3, dataset.states.shape[1], 3), 255, np.uint8))
        strip = np.concatenate(rows)
        image = Image.fromarray(strip).resize((strip.shape[1] * 3, strip.shape[0] * 3), Image.NEAREST)
        with atomic_path(path) as temporary:
            image.save(temporary, format="PNG")
        legend = ", ".join(f"{name} {colour}" for name, colour in zip(NPC_STATES, colours))
        return f"per episode, the FSM's states above the model's, ticks left to right ({legend})"

    def card_fields(self) -> dict:
        from ...schema import NPC_OBSERVATION_FEATURES

        return {
            "observation_size": self.config.observation_size,
            "window": self.config.window,
            "features": ", ".join(NPC_OBSERVATION_FEATURES),
            "labels": ", ".join(NPC_STATES),
        }
