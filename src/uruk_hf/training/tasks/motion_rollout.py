"""The task of Animation Director: the next frame of the procedural animator, learned on rollouts of its own output.

Training items are `UNROLL + 1` consecutive frames of a clip; the model starts from the first frame's true pose and
velocity and runs `UNROLL` frames feeding back its own pose, velocity and phase (the joystick, requested gait and
slope come from the clip), so that it learns to recover from its own errors instead of drifting when fed back
(an unrolled loss). Evaluation measures one step (every frame from the true previous frame), a 10 s autoregressive
rollout per clip from its first frame, foot skate and velocity tracking on that rollout, and with `full` a 60 s
rollout on new joysticks (does it diverge).
"""

from pathlib import Path

import numpy as np
import torch

from ...data.folder import load_split
from ...data.gait.animator import FPS, ClipSettings, animate_clip
from ...data.gait.motion import foot_skate_cm, pose_error_degrees
from ...models.animation_director.modeling_animation_director import motion_input
from .base import Task

__all__ = ["MotionRolloutTask", "MotionWindows", "rollout"]

UNROLL = 8
"""Frames a training item feeds back."""

_COLUMNS = ("rotations", "root_position", "root_yaw", "root_velocity", "desired", "gait", "phase", "slope", "contacts",
            "blend")  # fmt: skip


class MotionWindows(torch.utils.data.Dataset):
    """The clips of one split of a `locomotion_clips` folder, as training windows of `UNROLL + 1` frames.

    Args:
        folder: the dataset folder.
        split: `train`, `validation` or `test`.
        max_clips: keep only the first clips (Smoke, tests).
    """

    def __init__(self, folder: str | Path, split: str, max_clips: int | None = None):
        data = load_split(folder, split, list(_COLUMNS))
        count = len(data["gait"]) if max_clips is None else min(max_clips, len(data["gait"]))
        self.clips = {key: np.asarray(data[key][:count]) for key in _COLUMNS}
        frames = self.clips["gait"].shape[1]
        self.items = [(clip, start) for clip in range(count) for start in range(0, frames - UNROLL - 1, 4)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        clip, start = self.items[index]
        return {key: self.clips[key][clip, start : start + UNROLL + 1] for key in _COLUMNS}


def _tensor(value) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float32) if np.asarray(value).dtype != bool else value)


def rollout(model, clips: dict, frames: int, start: int = 0) -> dict[str, torch.Tensor]:
    """The model's own rollout over `frames` frames of `clips` (arrays `(N, T, ...)`), from frame `start`'s true
    pose, velocity and phase, with the clips' joystick, requested gait and slope at every frame. Returns
    `pose` `(N, frames, J, 6)` (frame `start` first), `root_velocity`, `phase`, and for the `frames - 1`
    predicted frames `phase_change`, `contacts` (probabilities) and `blend`."""
    pose = _tensor(clips["rotations"][:, start])
    velocity = _tensor(clips["root_velocity"][:, start])
    phase = _tensor(clips["phase"][:, start])
    desired, slope = _tensor(clips["desired"]), _tensor(clips["slope"])
    gait = torch.as_tensor(np.asarray(clips["gait"], np.int64))
    out = {
        "pose": [pose],
        "root_velocity": [velocity],
        "phase": [phase],
        "phase_change": [],
        "contacts": [],
        "blend": [],
    }
    for frame in range(start, start + frames - 1):
        features = motion_input(pose, velocity, desired[:, frame], gait[:, frame], phase, slope[:, frame])
        outputs = model(features)
        pose, velocity = outputs.pose, outputs.root_velocity
        phase = torch.remainder(phase + outputs.phase_change, 1.0)
        out["pose"].append(pose)
        out["root_velocity"].append(velocity)
        out["phase"].append(phase)
        out["phase_change"].append(outputs.phase_change)
        out["contacts"].append(torch.sigmoid(outputs.contact_logits))
        out["blend"].append(outputs.blend_weights)
    return {key: torch.stack(values, dim=1) for key, values in out.items() if values}


def _integrate_root(root_velocity: np.ndarray, first_position: np.ndarray, first_yaw: float) -> tuple:
    """Root positions and yaws `(T, 3)`, `(T,)` from velocities in the character's frame."""
    yaw, position = [first_yaw], [np.asarray(first_position, np.float64)]
    for forward, sideways, rate in root_velocity[:-1]:
        heading = yaw[-1]
        step = forward * np.array([np.sin(heading), 0, np.cos(heading)]) + sideways * np.array(
            [np.cos(heading), 0, -np.sin(heading)]
        )
        position.append(position[-1] + step / FPS)
        yaw.append(heading + rate / FPS)
    return np.stack(position), np.asarray(yaw)


class MotionRolloutTask(Task):
    """Animation Director's task (see the module docstring). The gate compares minus the 10 s rollout joint
    error (`rollout_score`, higher is better) with copy-previous-pose's on the validation clips;
    `gate_margin_scale` makes the preset's margin count quarter degrees."""

    gate_metric = "rollout_score"
    gate_baseline = "copy_previous_pose"
    gate_margin_scale = 0.25
    report_columns = (
        ("rollout_error_degrees", "10 s rollout error (deg)"),
        ("one_step_error_degrees", "one-step error (deg)"),
        ("foot_skate_cm", "foot skate (cm/frame)"),
        ("velocity_tracking_error", "velocity tracking (m/s)"),
        ("contact_accuracy", "contact acc. %"),
        ("rollout_60s_error_degrees", "60 s rollout error (deg)"),
        ("memory_mb", "memory (MB)"),
    )
    curve_metrics = (("rollout_error_degrees", "validation 10 s rollout error (deg)"),)
    int8_metrics = ("rollout_error_degrees", "one_step_error_degrees")
    card_template = "model_card_motion.md.j2"
    card_tags = ("character-animation", "locomotion", "game-ai", "pytorch", "onnx")

    def dataset(self, data, split: str, max_items: int | None = None) -> MotionWindows:
        return MotionWindows(data, split, max_clips=max_items)

    def collate(self, items: list[dict]) -> dict:
        return {key: np.stack([item[key] for item in items]) for key in items[0]}

    def forward(self, model, batch: dict):
        return rollout(model, batch, UNROLL + 1)

    def loss(self, outputs, batch: dict, weights) -> torch.Tensor:
        pose = torch.nn.functional.mse_loss(outputs["pose"][:, 1:], _tensor(batch["rotations"][:, 1:]))
        true_velocity = _tensor(batch["root_velocity"][:, 1:])
        velocity = torch.nn.functional.mse_loss(outputs["root_velocity"][:, 1:], true_velocity)
        true_phase = _tensor(batch["phase"])
        true_change = torch.remainder(true_phase[:, 1:] - true_phase[:, :-1], 1.0)
        phase = torch.nn.functional.mse_loss(outputs["phase_change"], true_change)
        contacts = torch.nn.functional.binary_cross_entropy(
            outputs["contacts"].clamp(1e-6, 1 - 1e-6), _tensor(batch["contacts"][:, 1:]).float()
        )
        blend = torch.nn.functional.mse_loss(outputs["blend"], _tensor(batch["blend"][:, 1:]))
        # A frame moves a joint by about half a degree (1e-2 in 6D): the pose term is scaled to lead the sum.
        return 3000.0 * pose + velocity + 1000.0 * phase + contacts + blend

    def evaluate(self, model, dataset: MotionWindows, full: bool = False) -> dict[str, float]:
        clips = dataset.clips
        frames = min(10 * FPS, clips["gait"].shape[1])
        with torch.inference_mode():
            steps = _tensor(clips["rotations"][:, :-1]).flatten(0, 1)
            features = motion_input(
                steps, *(_tensor(clips[key][:, :-1]).flatten(0, 1) for key in ("root_velocity", "desired")),
                torch.as_tensor(np.asarray(clips["gait"][:, :-1], np.int64)).flatten(0, 1),
                *(_tensor(clips[key][:, :-1]).flatten(0, 1) for key in ("phase", "slope")),
            )  # fmt: skip
            one_step = model(features)
            run = rollout(model, clips, frames)
        pose = run["pose"].numpy()
        metrics = {
            "one_step_error_degrees": pose_error_degrees(
                one_step.pose.numpy(), clips["rotations"][:, 1:].reshape(-1, *pose.shape[2:])
            ),
            "rollout_error_degrees": pose_error_degrees(pose, clips["rotations"][:, :frames]),
            "contact_accuracy": float(
                ((one_step.contact_logits.numpy() > 0) == clips["contacts"][:, 1:].reshape(-1, 2)).mean()
            ),
        }
        metrics["rollout_score"] = -metrics["rollout_error_degrees"]
        desired = clips["desired"][:, :frames, :2]
        predicted_velocity, animator_velocity = (
            run["root_velocity"].numpy()[..., :2],
            clips["root_velocity"][:, :frames, :2],
        )
        metrics["velocity_tracking_error"] = float(np.linalg.norm(predicted_velocity - desired, axis=-1).mean())
        metrics["animator_velocity_tracking_error"] = float(
            np.linalg.norm(animator_velocity - desired, axis=-1).mean()
        )
        skate = []
        for index in range(len(pose)):
            first_position, first_yaw = clips["root_position"][index, 0], float(clips["root_yaw"][index, 0])
            position, yaw = _integrate_root(run["root_velocity"][index].numpy(), first_position, first_yaw)
            contacts = np.concatenate([clips["contacts"][index, :1], run["contacts"][index].numpy() > 0.5])
            skate.append(foot_skate_cm(pose[index], position, yaw, contacts))
        metrics["foot_skate_cm"] = float(np.mean(skate))
        if hasattr(model, "parameters"):
            metrics["memory_mb"] = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
        if full:
            metrics.update(self._long_rollout(model, count=min(4, len(pose))))
        return metrics

    def _long_rollout(self, model, count: int, seconds: int = 60) -> dict[str, float]:
        """A rollout of `seconds` on new joysticks (clips the dataset does not hold): its joint error and whether it
        diverged (a pose with NaN/Inf, or a mean joint error over 45 degrees in its last second)."""
        settings = ClipSettings(frames=seconds * FPS)
        clips = [animate_clip(10_000_019 + index, settings) for index in range(count)]
        stacked = {key: np.stack([clip[key] for clip in clips]) for key in clips[0]}
        with torch.inference_mode():
            pose = rollout(model, stacked, settings.frames)["pose"].numpy()
        finite = bool(np.isfinite(pose).all())
        error = pose_error_degrees(pose, stacked["rotations"]) if finite else float("inf")
        last = pose_error_degrees(pose[:, -FPS:], stacked["rotations"][:, -FPS:]) if finite else float("inf")
        return {"rollout_60s_error_degrees": error, "rollout_60s_diverged": float(not finite or last > 45.0)}

    def gate_baselines(self, dataset: MotionWindows) -> dict[str, dict[str, float]]:
        """Copy-previous-pose on the validation clips: its 10 s rollout holds the first pose."""
        clips = dataset.clips
        frames = min(10 * FPS, clips["gait"].shape[1])
        held = np.repeat(clips["rotations"][:, :1], frames, axis=1)
        error = pose_error_degrees(held, clips["rotations"][:, :frames])
        return {"copy_previous_pose": {"rollout_error_degrees": error, "rollout_score": -error}}

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        """The rollout and one-step joint errors, foot skate and contact accuracy."""
        keys = ("rollout_error_degrees", "one_step_error_degrees", "foot_skate_cm", "contact_accuracy")
        return [("other", key, float(metrics[key])) for key in keys if key in metrics]

    def outputs_finite(self, outputs) -> bool:
        return all(bool(torch.isfinite(value).all()) for value in outputs.values())

    def outputs_difference(self, first, second) -> float:
        return max(float((first[key] - second[key]).abs().max()) for key in first)

    # Publishing ---------------------------------------------------------------------------------------------
    def calibration_inputs(self, model, dataset: MotionWindows, max_items: int = 64) -> list[np.ndarray]:
        """One frame's input vector per item, for static int8 calibration."""
        clips, inputs = dataset.clips, []
        for index in range(min(max_items, len(dataset.items))):
            clip, start = dataset.items[index * max(1, len(dataset.items) // max_items)]
            features = motion_input(
                *(_tensor(clips[key][clip : clip + 1, start]) for key in ("rotations", "root_velocity", "desired")),
                torch.as_tensor(np.asarray(clips["gait"][clip : clip + 1, start], np.int64)),
                *(_tensor(clips[key][clip : clip + 1, start]) for key in ("phase", "slope")),
            )
            inputs.append(features.numpy())
        return inputs

    def onnx_model(self, folder: Path, file_name: str):
        from ...models.animation_director.modeling_ort_animation_director import UrukORTAnimationDirector

        return UrukORTAnimationDirector.from_pretrained(folder, file_name=file_name)

    def write_examples(self, model, dataset: MotionWindows, path: Path, items: int = 1) -> str:
        """An animated GIF of the first test clip: the animator's skeleton (grey) and the model's rollout (red)
        from the side, 10 s at 15 frames per second."""
        from ...data.gait.examples import write_skeleton_gif

        clips = {key: value[:items] for key, value in dataset.clips.items()}
        frames = min(10 * FPS, clips["gait"].shape[1])
        with torch.inference_mode():
            pose = rollout(model, clips, frames)["pose"].numpy()[0]
        gif = Path(path).with_suffix(".gif")
        position, yaw = clips["root_position"][0, :frames], clips["root_yaw"][0, :frames]
        write_skeleton_gif(gif, clips["rotations"][0, :frames], pose, position, yaw)
        return f"`{gif.name}`: the procedural animator (grey) and the model's own rollout (red) side by side"

    def card_fields(self) -> dict:
        config = self.config
        return {"input_size": config.input_size, "output_size": config.output_size, "num_joints": config.num_joints}
