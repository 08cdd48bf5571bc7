"""The NPC simulator and the `npc_episodes` dataset kind at the tiny preset: determinism, the FSM's state never in
an input, the baselines, and NPC Director's task on top of them."""

import json

import numpy as np
import pytest
import torch

from uruk_hf.data.behaviour import simulator
from uruk_hf.data.behaviour.generator import NPC_EPISODES
from uruk_hf.data.behaviour.maps import FLOOR, generate_map
from uruk_hf.data.behaviour.simulator import EpisodeSettings, run_episode
from uruk_hf.data.folder import generate_dataset, load_split


@pytest.fixture(scope="module")
def npc_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("npc_episodes")
    return folder, generate_dataset(NPC_EPISODES, folder, "tiny", seed=0, progress=False)


def test_maps_are_connected_and_episodes_deterministic():
    from scipy.ndimage import label

    world = generate_map(np.random.default_rng([0, 3]))
    assert label(world.cells == FLOOR, structure=np.ones((3, 3)))[1] == 1
    first, second = (run_episode(world, 11, EpisodeSettings(ticks=80)) for _ in range(2))
    assert all(np.array_equal(first[key], second[key]) for key in ("observations", "states", "moves"))
    other = run_episode(world, 12, EpisodeSettings(ticks=80))
    assert not np.array_equal(first["observations"], other["observations"])


def test_the_fsm_state_never_enters_an_observation():
    """Before every tick's sensing the FSM's state, timers and memories are replaced by garbage (and restored before
    it decides): every observation is the same as in the clean episode, so sensing reads none of them."""
    world = generate_map(np.random.default_rng([0, 5]))
    settings = EpisodeSettings(ticks=150)
    clean = run_episode(world, 7, settings)
    episode = simulator.NPCEpisode(world, 7, settings)
    poisoned_states = set()
    for _ in range(settings.ticks):
        saved = dict(vars(episode.fsm))
        episode.fsm.state, episode.fsm.timer, episode.fsm.lost_sight = (saved["state"] + 3) % 8, 99, 99
        episode.fsm.target = episode.fsm.last_seen = (0, 0)
        poisoned_states.add(episode.fsm.state)
        observation = episode.sense()
        vars(episode.fsm).update(saved)
        decision = episode.fsm.step(observation)
        episode.reference.append(decision)
        episode.act(*decision)
    result = episode.result()
    assert np.array_equal(result["observations"], clean["observations"])
    assert np.array_equal(result["states"], clean["states"]) and len(poisoned_states) > 3


def test_dataset_loads_with_its_card_and_baselines(npc_dataset):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    folder, summary = npc_dataset
    assert summary["complete"]
    dataset = load_dataset(str(folder))
    assert set(dataset) == {"train", "validation", "test"}
    row = dataset["test"].with_format("numpy")[0]
    assert row["observations"].shape == (96, 34) and row["states"].shape == (96,)
    assert "states" not in {name for name in dataset["test"].column_names if name.startswith("observation")}
    assert "imitates this FSM" in DatasetCard.load(folder / "README.md").text
    baselines = json.loads((folder / "baselines.json").read_text())["baselines"]
    assert set(baselines) == {"majority", "copy_previous_state", "memoryless_mlp"}
    assert baselines["copy_previous_state"]["transition_accuracy"] == 0.0
    assert 0.0 < baselines["memoryless_mlp"]["state_accuracy"] <= 1.0


def test_the_task_never_puts_labels_in_a_batch_input(npc_dataset):
    from uruk_hf import UrukNPCDirectorConfig
    from uruk_hf.training.tasks.npc_decisions import NPCDecisionTask

    folder, _ = npc_dataset
    task = NPCDecisionTask(UrukNPCDirectorConfig.from_preset("tiny", window=16))
    dataset = task.dataset(folder, "train")
    batch = task.collate([dataset[index] for index in range(4)])
    dataset.states[:] = (dataset.states + 1) % 8
    dataset.moves[:] = 0
    again = task.collate([dataset[index] for index in range(4)])
    assert torch.equal(batch["observations"], again["observations"])
    assert not torch.equal(batch["state_labels"], again["state_labels"])


def test_evaluation_decides_every_tick_as_a_game_steps_the_model(npc_dataset):
    """Evaluation over whole episodes equals a game stepping the model a tick at a time from the first tick."""
    from uruk_hf import UrukNPCDirector, UrukNPCDirectorConfig
    from uruk_hf.training.tasks.npc_decisions import NPCDecisionTask, _decide

    folder, _ = npc_dataset
    torch.manual_seed(0)
    model = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny", window=8)).eval()
    observations = load_split(folder, "test", ["observations"])["observations"][:2].astype(np.float32)
    states, moves = _decide(model, observations, batch=1)
    state = model.initial_state(2)
    with torch.no_grad():
        for tick in range(observations.shape[1]):
            outputs = model.step(torch.from_numpy(observations[:, tick : tick + 1]), **state)
            state = model.next_state(outputs)
            assert states[:, tick].tolist() == outputs.state_logits[:, 0].argmax(-1).tolist()
            assert moves[:, tick].tolist() == outputs.move_logits[:, 0].argmax(-1).tolist()
    metrics = NPCDecisionTask(model.config).evaluate(
        model, NPCDecisionTask(model.config).dataset(folder, "test"), full=True
    )
    assert {"state_accuracy", "transition_accuracy", "closed_loop_agreement", "fsm_hits_per_episode"} <= set(metrics)
    assert metrics["closed_loop_ticks"] == 500
