"""The `locomotion_clips` dataset kind: clips of the procedural animator (`animator.py`) driven by random
joysticks, one clip per item (splits never share a clip). Finalizing measures the baselines on the test split
(copy-previous-pose, constant-velocity extrapolation, motion matching over the training clips) and the animator's
own foot skate, and writes the dataset card.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..folder import DatasetGenerator, dataset_card, load_split
from .animator import FPS, GAITS, ClipSettings, animate_clip
from .motion import MotionMatching, constant_velocity_rollout, copy_previous_rollout, foot_skate_cm, pose_error_degrees
from .skeleton import JOINT_NAMES

__all__ = ["LOCOMOTION_CLIPS", "LOCOMOTION_PRESETS", "LocomotionClipGenerator", "LocomotionPreset"]

_COLUMNS = ("rotations", "root_position", "root_yaw", "root_velocity", "desired", "gait", "phase", "slope", "contacts",
            "blend")  # fmt: skip


@dataclass(frozen=True)
class LocomotionPreset:
    """How many clips of how many frames.

    Attributes:
        name (`str`): `tiny`, `quick` or `full`.
        num_clips (`int`): clips.
        frames (`int`): frames per clip (60 per second).
        clips_per_chunk (`int`): clips per Parquet file.
        validation_fraction, test_fraction (`float`): share of chunks in each held-out split.
    """

    name: str
    num_clips: int
    frames: int
    clips_per_chunk: int = 8
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    @property
    def num_items(self) -> int:
        return self.num_clips

    @property
    def items_per_chunk(self) -> int:
        return self.clips_per_chunk


LOCOMOTION_PRESETS = {
    "tiny": LocomotionPreset("tiny", 12, 240, clips_per_chunk=2),
    "quick": LocomotionPreset("quick", 160, 600),
    "full": LocomotionPreset("full", 4000, 3600, clips_per_chunk=40),
}
"""`tiny`: 12 clips of 4 s (tests). `quick`: 160 clips of 10 s (96,000 frames). `full`: 4,000 clips of 60 s."""


class _ClipWorker:
    def __init__(self, preset: LocomotionPreset, seed: int):
        self.preset, self.seed = preset, seed

    def rows(self, index: int, split: str) -> list[dict]:
        clip_seed = int(np.random.default_rng([self.seed, index]).integers(2**62))
        clip = animate_clip(clip_seed, ClipSettings(frames=self.preset.frames))
        return [{**clip, "clip_id": index, "clip_seed": clip_seed}]

    def timing(self) -> dict:
        return {}


def locomotion_baselines(folder: str | Path, rollout_seconds: float = 10.0) -> dict:
    """The baselines on the test split: one-step and `rollout_seconds` rollout joint error (degrees) of
    copy-previous-pose, constant-velocity extrapolation and motion matching (searched at 6 Hz over every training
    frame), motion matching's memory, and the animator's own foot skate."""
    train = load_split(folder, "train", list(_COLUMNS))
    test = load_split(folder, "test", list(_COLUMNS))
    train_clips, test_clips = (
        [{key: data[key][index] for key in _COLUMNS} for index in range(len(data["gait"]))] for data in (train, test)
    )
    frames = min(int(rollout_seconds * FPS), test["rotations"].shape[1])
    matching = MotionMatching(train_clips)
    rotations = test["rotations"]
    rollouts = {
        "copy_previous_pose": [copy_previous_rollout(clip["rotations"][0], frames) for clip in test_clips],
        "constant_velocity": [
            constant_velocity_rollout(clip["rotations"][0], clip["rotations"][1], frames) for clip in test_clips
        ],
        "motion_matching": [matching.rollout(clip, frames) for clip in test_clips],
    }
    one_step = {
        "copy_previous_pose": pose_error_degrees(rotations[:, :-1], rotations[:, 1:]),
        "constant_velocity": pose_error_degrees(constant_velocity_rollout_step(rotations), rotations[:, 2:]),
    }
    baselines = {}
    for name, poses in rollouts.items():
        errors = [pose_error_degrees(rollout, clip["rotations"][:frames]) for rollout, clip in zip(poses, test_clips)]
        baselines[name] = {"rollout_error_degrees": float(np.mean(errors))}
        if name in one_step:
            baselines[name]["one_step_error_degrees"] = one_step[name]
    baselines["motion_matching"]["memory_mb"] = matching.nbytes / 1e6
    skate = [foot_skate_cm(c["rotations"], c["root_position"], c["root_yaw"], c["contacts"]) for c in test_clips]
    baselines["procedural_animator"] = {"foot_skate_cm": float(np.mean(skate))}
    return {"split": "test", "frames": int(rotations.shape[0] * rotations.shape[1]), "rollout_frames": frames,
            "baselines": baselines}  # fmt: skip


def constant_velocity_rollout_step(rotations: np.ndarray) -> np.ndarray:
    """One-step constant-velocity predictions of frames 2.. from frames 0.. and 1.. of `(N, T, 22, 6)`."""
    from .skeleton import matrices_from_sixd

    guess = matrices_from_sixd((2 * rotations[:, 1:-1] - rotations[:, :-2]).astype(np.float64))
    return np.concatenate([guess[..., :, 0], guess[..., :, 1]], axis=-1)


class LocomotionClipGenerator(DatasetGenerator):
    """Clips of the procedural locomotion animator (see the module docstring)."""

    kind = "locomotion_clips"
    version = "1.0"
    presets = LOCOMOTION_PRESETS
    report_baselines = ("copy_previous_pose", "constant_velocity", "motion_matching", "procedural_animator")

    def features(self, preset: LocomotionPreset):
        from datasets import Array2D, Array3D, Features, Sequence, Value

        frames, joints = preset.frames, len(JOINT_NAMES)
        return Features(
            {
                "rotations": Array3D((frames, joints, 6), "float32"),
                "root_position": Array2D((frames, 3), "float32"),
                "root_yaw": Sequence(Value("float32"), length=frames),
                "root_velocity": Array2D((frames, 3), "float32"),
                "desired": Array2D((frames, 4), "float32"),
                "gait": Sequence(Value("int8"), length=frames),
                "phase": Sequence(Value("float32"), length=frames),
                "slope": Sequence(Value("float32"), length=frames),
                "contacts": Array2D((frames, 2), "bool"),
                "blend": Array2D((frames, len(GAITS)), "float32"),
                "clip_id": Value("int32"),
                "clip_seed": Value("int64"),
            }
        )

    def environment(self, variant: str | None) -> dict:
        return {}

    def start(self, preset: LocomotionPreset, seed: int, environment: dict) -> _ClipWorker:
        return _ClipWorker(preset, seed)

    def measure_baselines(self, folder: Path, record: dict) -> dict:
        return locomotion_baselines(folder)

    def card(self, folder: Path, record: dict, baselines: dict) -> str:
        return _card(record, baselines)

    def describe_baselines(self, results: dict) -> str:
        from ...tables import format_table

        keys = ("one_step_error_degrees", "rollout_error_degrees", "memory_mb", "foot_skate_cm")
        rows = [
            [name, *(f"{metrics[key]:.3f}" if key in metrics else "-" for key in keys)]
            for name, metrics in results["baselines"].items()
        ]
        heading = (
            f"Baselines on the {results['split']} split ({results['frames']} frames, rollouts of "
            f"{results['rollout_frames']}):"
        )
        headers = ["baseline", "one-step error (deg)", "rollout error (deg)", "memory (MB)", "foot skate (cm/frame)"]
        return heading + "\n" + format_table(headers, rows)


def _card(record: dict, baselines: dict) -> str:
    preset = record["preset"]
    keys = ("one_step_error_degrees", "rollout_error_degrees", "memory_mb", "foot_skate_cm")
    rows = "\n".join(
        f"| {name} | " + " | ".join(f"{m[key]:.3f}" if key in m else "-" for key in keys) + " |"
        for name, m in baselines["baselines"].items()
    )
    splits = sorted(set(record["splits"]))
    body = f"""# Uruk procedural locomotion ({preset["name"]} preset)

Clips of a **procedural locomotion animator, not motion capture**: a {len(JOINT_NAMES)}-joint humanoid whose idle,
walk, run and strafe gaits are phase-driven joint-angle cycles blended by speed and sideways motion (a blend tree
with cross-fades), following a random joystick, on sloped terrain, at {FPS} Hz. A model trained here imitates this
animator. Generated by `uruk_hf` (generator {record["generator_version"]}, seed {record["seed"]}):

```bash
uruk data generate --kind locomotion_clips --preset {preset["name"]} --seed {record["seed"]} --output DIR
```

- {preset["num_clips"]} clips of {preset["frames"]} frames; splits are disjoint by clip.
- `rotations` (frames, {len(JOINT_NAMES)}, 6): local joint rotations in the 6D representation (joints:
  {", ".join(JOINT_NAMES)}); `root_position`, `root_yaw`; `root_velocity` (forward, sideways, yaw rate);
  `desired` (the joystick: forward and sideways speed, sine and cosine of the facing to turn to); `gait` (the
  requested gait: {", ".join(GAITS)}); `phase`; `slope`; `contacts` (left, right foot); `blend` (gait weights).

## Baselines (test split, rollouts of {baselines["rollout_frames"]} frames)

| baseline | one-step joint error (deg) | rollout joint error (deg) | memory (MB) | foot skate (cm/frame) |
|---|---|---|---|---|
{rows}
"""
    return dataset_card(body, splits, tags=["animation", "locomotion", "procedural", "synthetic", "uruk"])


LOCOMOTION_CLIPS = LocomotionClipGenerator()
"""The generator of Animation Director's datasets."""
