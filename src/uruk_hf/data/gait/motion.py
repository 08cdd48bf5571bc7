"""Measuring locomotion against the procedural animator, and the baselines a game would otherwise ship.

- `pose_error_degrees`: mean geodesic angle between predicted and true local joint rotations.
- `foot_skate_cm`: horizontal foot travel per frame while the foot is in contact.
- `copy_previous_rollout` and `constant_velocity_rollout`: the trivial predictors (hold the last pose; extrapolate
  each rotation's last change).
- `MotionMatching`: nearest-neighbour search over every training frame on pose and trajectory features (the
  technique Unreal Engine 5 and other engines ship), searched every `search_interval` frames and played forward
  in between, as engines do.
"""

import numpy as np

from .animator import GAITS
from .skeleton import FEET, forward_kinematics, geodesic_degrees, matrices_from_sixd

__all__ = [
    "MotionMatching",
    "constant_velocity_rollout",
    "copy_previous_rollout",
    "foot_skate_cm",
    "pose_error_degrees",
]

_MATCHED_JOINTS = (0, 2, 7, 8, 11, 12, 14, 15, 16, 18, 19, 20)
"""Joints whose rotations enter the motion-matching features: pelvis, spine, arms and legs."""


def pose_error_degrees(predicted: np.ndarray, true: np.ndarray) -> float:
    """Mean geodesic angle (degrees) between `(..., 22, 6)` predicted and true local rotations."""
    first, second = (matrices_from_sixd(np.asarray(poses, np.float64)) for poses in (predicted, true))
    return float(geodesic_degrees(first, second).mean())


def foot_skate_cm(rotations: np.ndarray, root_position: np.ndarray, root_yaw: np.ndarray, contacts: np.ndarray):
    """Centimetres a foot slides horizontally per frame while in contact, averaged over contact frames."""
    positions = forward_kinematics(matrices_from_sixd(rotations.astype(np.float64)), root_position, root_yaw)
    feet = positions[:, FEET][..., [0, 2]]
    travel = np.linalg.norm(np.diff(feet, axis=0), axis=-1)
    held = contacts[1:] & contacts[:-1]
    return float(100.0 * travel[held].mean()) if held.any() else 0.0


def copy_previous_rollout(first: np.ndarray, frames: int) -> np.ndarray:
    """The first pose held for `frames` frames."""
    return np.repeat(first[None], frames, axis=0)


def constant_velocity_rollout(first: np.ndarray, second: np.ndarray, frames: int) -> np.ndarray:
    """Each rotation's change from `first` to `second`, repeated (in 6D, re-orthonormalized each frame)."""
    step = second - first
    poses = [first, second]
    for _ in range(frames - 2):
        poses.append(poses[-1] + step)
    matrices = matrices_from_sixd(np.stack(poses).astype(np.float64))
    return np.concatenate([matrices[..., :, 0], matrices[..., :, 1]], axis=-1).astype(np.float32)


class MotionMatching:
    """Motion matching over the training clips.

    Args:
        clips: dicts of `animate_clip` arrays (`rotations`, `root_velocity`, `desired`, `phase`, `gait`).
        search_interval: frames between searches (10 = 6 searches per second).
    """

    def __init__(self, clips: list[dict], search_interval: int = 10):
        from scipy.spatial import cKDTree

        self.search_interval = search_interval
        features, ends, total = [], [], 0
        for clip in clips:
            features.append(
                self._features(clip["rotations"], clip["root_velocity"], clip["desired"], clip["phase"], clip["gait"])
            )
            total += len(clip["rotations"])
            ends += [total] * len(clip["rotations"])
        raw = np.concatenate(features)
        self.mean, self.scale = raw.mean(0), raw.std(0) + 1e-6
        self.poses = np.concatenate([clip["rotations"] for clip in clips]).astype(np.float32)
        self.velocities = np.concatenate([clip["root_velocity"] for clip in clips])
        self.phases = np.concatenate([clip["phase"] for clip in clips])
        self.ends = np.asarray(ends)
        self.tree = cKDTree((raw - self.mean) / self.scale)

    @staticmethod
    def _features(rotations, root_velocity, desired, phase, gait) -> np.ndarray:
        pose = rotations[:, _MATCHED_JOINTS].reshape(len(rotations), -1)
        cycle = np.stack([np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)], -1)
        requested = np.eye(len(GAITS))[np.asarray(gait, np.int64)]
        return np.concatenate([pose, root_velocity, 2.0 * desired, cycle, 2.0 * requested], axis=-1)

    def rollout(self, clip: dict, frames: int | None = None) -> np.ndarray:
        """Poses for `frames` frames of `clip`'s joystick (its `desired` and `gait`), from its first frame: every
        `search_interval` frames the best match for the pose shown and the joystick's command is found and its
        next frame plays; in between the database plays forward."""
        frames = frames or len(clip["rotations"])
        pose, velocity, phase = clip["rotations"][0], clip["root_velocity"][0], clip["phase"][0]
        output, current = [pose], None
        for frame in range(1, frames):
            # The match stands for the frame just shown; the database's next frame continues it.
            if frame % self.search_interval == 1 or current is None or current + 1 >= self.ends[current]:
                query = self._features(
                    pose[None],
                    velocity[None],
                    clip["desired"][frame][None],
                    np.array([phase]),
                    clip["gait"][frame][None],
                )
                current = int(self.tree.query((query[0] - self.mean) / self.scale)[1])
            if current + 1 < self.ends[current]:
                current += 1
            pose, velocity, phase = self.poses[current], self.velocities[current], self.phases[current]
            output.append(pose)
        return np.stack(output)

    @property
    def nbytes(self) -> int:
        """Memory of the database: poses, features and the search tree's copy of them."""
        return int(self.poses.nbytes + 2 * self.tree.data.nbytes)
