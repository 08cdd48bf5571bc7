"""The NPC Director v2 family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the transformer (every layer attends to 32 ticks), then rounds of DAgger
(Ross et al. 2011): the model drives the NPC on the training maps, the FSM fed the same observations labels every
tick, the episodes join the training set and training continues, so that the model learns the situations its own
mistakes lead to (behaviour cloning alone, the first run, agreed with the FSM on 83-89% of closed-loop ticks).
Then the same recipe for the control whose layers see one tick (`window=1`): what the transformer's memory of
earlier ticks buys.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...training.run import Lifecycle, save_legacy
from ...training.tasks.npc_decisions import on_policy_episodes
from .configuration_npc_director import UrukNPCDirectorConfig
from .modeling_npc_director import UrukNPCDirector

__all__ = ["FAMILY", "train_npc_director"]

_TIME_BUDGETS = {"quick": (80.0, 20.0)}
"""Production and per-DAgger-round seconds at the quick preset (the window-1 control gets half of Production)."""

DAGGER_ROUNDS = 5
"""Rounds of on-policy data and training after Production (each one episode per training map, new seeds). On the
validation maps' closed loop, 5 rounds of 20 s agreed with the FSM on 97.4 and 96.9% of ticks (two seeds), 3 of 25 s
on 96.6 and 96.0%."""

_STAGE = {"batch_size": 8, "eval_every": 50, "warmup_steps": 30}
"""Episodes per step (8 of 256 ticks at quick) and evaluation interval."""


def train_npc_director(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """Production of NPC Director and of its window-1 control; writes both models and `npc_director_v2/best.pt`."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, _STAGE, seed=seed)
    model, learning_rate = lifecycle.calibrated_model("npc_director", None)
    lifecycle.production(model, None, learning_rate)
    maps = len(lifecycle.train)
    for round_index in range(1, DAGGER_ROUNDS + 1):
        lifecycle.train.extend(**on_policy_episodes(model, lifecycle.train, maps, seed_offset=round_index))
        (record,) = lifecycle.accelerate_curriculum(
            model, [(f"dagger{round_index}", None, None)], learning_rate, lifecycle.budget.curriculum_time_s,
            [lifecycle.gate()],
        )  # fmt: skip
    lifecycle.save_model("npc_director", model, record)
    save_legacy(model, lifecycle.legacy_path("npc_director"), record["stage"], record["best"])

    budgets = {name: (None if seconds is None else seconds / 2, None) for name, (seconds, _) in _TIME_BUDGETS.items()}
    control = Lifecycle(
        FAMILY, data, output / "window1", preset, resume, budgets, _STAGE, task_model="npc_director_window1", seed=seed
    )
    window1 = control.new_model("npc_director_window1")
    control.smoke(window1, None)
    control_record = control.production(window1, None, learning_rate)
    control.save_model("npc_director_window1", window1, control_record)
    control.write({"learning_rate": learning_rate})
    return lifecycle.write({"learning_rate": learning_rate})


FAMILY = Family(
    name="npc_director",
    title="NPC Director v2",
    dataset_kind="npc_episodes",
    task="uruk_hf.training.tasks.npc_decisions:NPCDecisionTask",
    train=train_npc_director,
    onnx_config="uruk_hf.models.npc_director.onnx_npc_director:UrukNPCDirectorOnnxConfig",
    models=(
        ModelEntry(
            key="npc_director",
            model_class=UrukNPCDirector,
            config_class=UrukNPCDirectorConfig,
            run_folder="npc_director/models/npc_director",
            subfolder="npc_director_v2",
            budget=1_310_000,
            description=(
                "NPC Director v2: the NPC's behaviour state (idle, patrol, investigate, alert, chase, attack, flee, "
                "return) and its next move, per tick, from its observations so far (every layer attends to the last "
                "32 ticks), imitating a designer's finite-state machine with hidden timers; stepped a tick at a "
                "time on a fixed-size state."
            ),
            legacy_files=("npc_director_v2/best.pt",),
            onnx_files=("onnx/npc_director.onnx",),
            curve=("npc_director/production",),
            seed_claims=(("NPC Director v2: 99.57% state accuracy", "state_accuracy", "test split, per tick"),),
        ),
        ModelEntry(
            key="npc_director_window1",
            model_class=UrukNPCDirector,
            config_class=UrukNPCDirectorConfig,
            run_folder="npc_director/window1/models/npc_director_window1",
            description="The same transformer and training with a window of one tick: no memory (a control).",
            config_overrides=(("window", 1),),
        ),
    ),
    limitations={
        "npc_director": [
            "It imitates the library's own FSM on the library's own simulator; on another game's sensors and "
            "behaviours it must be retrained.",
            "The timers are the FSM's constants; a designer who changes them invalidates the model.",
        ]
    },
)
