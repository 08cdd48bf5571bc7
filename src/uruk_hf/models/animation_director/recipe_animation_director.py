"""The Animation Director family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production on unrolled rollouts of the model's own output.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...training.run import Lifecycle, save_legacy
from .configuration_animation_director import UrukAnimationDirectorConfig
from .modeling_animation_director import UrukAnimationDirector

__all__ = ["FAMILY", "train_animation_director"]

_TIME_BUDGETS = {"quick": (100.0, None)}
_STAGE = {"batch_size": 64, "eval_every": 100, "warmup_steps": 30, "patience": 6}
"""Windows per step and evaluation interval (a validation pass rolls every validation clip out for 10 s)."""


def train_animation_director(data: Path, output: Path, preset: str, resume: bool, seed: int = 0) -> dict:
    """Production of Animation Director; writes the model and `animation_director/best.pt`."""
    lifecycle = Lifecycle(FAMILY, data, output, preset, resume, _TIME_BUDGETS, _STAGE, seed=seed)
    model, record, learning_rate = lifecycle.train_model("animation_director", None)
    save_legacy(model, lifecycle.legacy_path("animation_director"), "production", record["best"])
    return lifecycle.write({"learning_rate": learning_rate})


FAMILY = Family(
    name="animation_director",
    title="Animation Director",
    dataset_kind="locomotion_clips",
    task="uruk_hf.training.tasks.motion_rollout:MotionRolloutTask",
    train=train_animation_director,
    onnx_config="uruk_hf.models.animation_director.onnx_animation_director:UrukAnimationDirectorOnnxConfig",
    models=(
        ModelEntry(
            key="animation_director",
            model_class=UrukAnimationDirector,
            config_class=UrukAnimationDirectorConfig,
            run_folder="animation_director/models/animation_director",
            subfolder="animation_director",
            budget=700_000,
            description=(
                "Animation Director: a character's next pose (22 joints), root motion, gait phase, foot contacts "
                "and gait blend weights from its current pose and a joystick, at 60 Hz, imitating a procedural "
                "locomotion animator (not motion capture)."
            ),
            legacy_files=("animation_director/best.pt",),
            curve=("animation_director/production",),
            seed_claims=(("Animation Director: procedural animation control", None, "test split rollouts"),),
        ),
    ),
    limitations={
        "animation_director": [
            "It imitates the library's procedural animator, not captured motion: its quality is bounded by that "
            "animator's, and it has never seen a human move.",
        ]
    },
)
