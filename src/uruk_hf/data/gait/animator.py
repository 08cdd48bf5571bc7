"""A procedural locomotion animator on the 22-joint skeleton: what Animation Director learns to imitate.

Not motion capture: every pose is a function of a gait phase and a blend of four procedural gaits (idle, walk,
run, strafe), as a game's blend tree over animation cycles produces it. Per frame at 60 Hz a random joystick
sets a desired velocity and facing; the root follows them with critically damped smoothing (half-life 0.25 s,
turning at most 4 rad/s); the gait weights follow speed and the sideways share of the motion, cross-fading over
0.15 s; the phase advances at a stride frequency that grows with speed; stride lengths and arm swing grow with
speed; the terrain's slope tilts the pelvis and ankles and lifts the root; feet are in contact during their stance
half of the cycle (shorter when running: flight phases).
"""

import math
from dataclasses import dataclass

import numpy as np

from .skeleton import JOINT_NAMES, matrices_from_euler, sixd_from_matrices

__all__ = ["FPS", "GAITS", "ClipSettings", "animate_clip"]

FPS = 60
GAITS = ("idle", "walk", "run", "strafe")
_J = {name: index for index, name in enumerate(JOINT_NAMES)}


@dataclass(frozen=True)
class ClipSettings:
    """How a clip's joystick moves.

    Attributes:
        frames (`int`): frames per clip (60 per second).
        segment_seconds (`tuple[float, float]`): how long the joystick holds a command.
        max_slope (`float`): largest terrain slope (radians) of a clip.
    """

    frames: int = 600
    segment_seconds: tuple[float, float] = (1.0, 3.0)
    max_slope: float = 0.15


def _gait_pose(gait: str, phase: float, speed: float, side: float) -> np.ndarray:
    """Local Euler angles `(22, 3)` of one procedural gait at `phase` in [0, 1)."""
    a = 2.0 * math.pi * phase
    pose = np.zeros((len(JOINT_NAMES), 3))
    if gait == "idle":
        pose[_J["spine2"], 0] = 0.03 * math.sin(a)
        pose[_J["l_forearm"], 0] = pose[_J["r_forearm"], 0] = -0.1
        pose[_J["r_upper_arm"], 2] = 0.05 + 0.02 * math.sin(a)
        pose[_J["l_upper_arm"], 2] = -pose[_J["r_upper_arm"], 2]
        return pose
    if gait == "strafe":
        swing = 0.25 * math.sin(a) * side
        pose[_J["l_thigh"], 2], pose[_J["r_thigh"], 2] = swing, swing
        pose[_J["l_shin"], 0] = 0.3 * max(0.0, math.sin(a))
        pose[_J["r_shin"], 0] = 0.3 * max(0.0, -math.sin(a))
        pose[_J["l_forearm"], 0] = pose[_J["r_forearm"], 0] = -0.3
        pose[_J["spine1"], 2] = -0.05 * side
        return pose
    running = gait == "run"
    scale = min(1.2, max(0.4, speed / (3.5 if running else 1.4)))
    hip, knee, arm = (0.8, 1.4, 0.7) if running else (0.45, 0.65, 0.35)
    for side_name, offset in (("l", 0.0), ("r", math.pi)):
        s = math.sin(a + offset)
        pose[_J[f"{side_name}_thigh"], 0] = -hip * scale * s
        pose[_J[f"{side_name}_shin"], 0] = knee * scale * max(0.0, math.sin(a + offset + 0.5 * math.pi))
        pose[_J[f"{side_name}_foot"], 0] = -0.2 * scale * s
        pose[_J[f"{side_name}_upper_arm"], 0] = arm * scale * s
        pose[_J[f"{side_name}_forearm"], 0] = -(1.2 if running else 0.25)
    pose[_J["spine2"], 1] = 0.08 * scale * math.sin(a)
    pose[_J["pelvis"], 1] = -0.06 * scale * math.sin(a)
    pose[_J["spine1"], 0] = 0.15 if running else 0.03
    return pose


def _target_weights(speed: float, sideways: float) -> np.ndarray:
    idle = min(1.0, max(0.0, 1.0 - speed / 0.5))
    moving = 1.0 - idle
    run = min(1.0, max(0.0, (speed - 1.6) / 0.8))
    strafe = sideways * (1.0 - run)
    return np.array([idle, moving * (1 - run) * (1 - strafe), moving * run * (1 - strafe), moving * strafe])


def animate_clip(seed: int, settings: ClipSettings = ClipSettings()) -> dict[str, np.ndarray]:
    """One clip of the animator driven by a random joystick (see the module docstring).

    Returns per frame: `rotations` (T, 22, 6) local rotations in 6D, `root_position` (T, 3), `root_yaw` (T,),
    `root_velocity` (T, 3: forward and sideways speed in the character's frame, yaw rate), `desired` (T, 4:
    desired forward and sideways speed in the character's frame, sine and cosine of the desired facing relative to
    the current one), `gait` (T,) the joystick's requested gait (index into `GAITS`), `phase` (T,), `slope` (T,)
    (the terrain's pitch along the facing), `contacts` (T, 2) left and right foot, `blend` (T, 4) gait weights.
    """
    rng = np.random.default_rng([seed, 4242])
    dt = 1.0 / FPS
    slope = float(rng.uniform(-settings.max_slope, settings.max_slope))
    position, yaw, velocity = np.zeros(3), float(rng.uniform(-math.pi, math.pi)), np.zeros(2)
    phase, weights = 0.0, np.array([1.0, 0.0, 0.0, 0.0])
    out = {key: [] for key in ("rotations", "root_position", "root_yaw", "root_velocity", "desired", "gait", "phase",
                               "slope", "contacts", "blend")}  # fmt: skip
    command_frames, desired_velocity, desired_yaw, requested = 0, np.zeros(2), yaw, 0
    for _ in range(settings.frames):
        if command_frames <= 0:
            command_frames = int(rng.uniform(*settings.segment_seconds) * FPS)
            requested = int(rng.choice(4, p=[0.15, 0.4, 0.25, 0.2]))
            speed = {0: 0.0, 1: rng.uniform(0.6, 1.6), 2: rng.uniform(2.2, 4.5), 3: rng.uniform(0.6, 1.4)}[requested]
            direction = float(rng.uniform(-math.pi, math.pi))
            desired_velocity = speed * np.array([math.sin(direction), math.cos(direction)])
            desired_yaw = direction if requested != 3 else direction + math.copysign(0.5 * math.pi, rng.uniform(-1, 1))
        command_frames -= 1

        velocity += (desired_velocity - velocity) * (1.0 - math.exp(-dt * math.log(2) / 0.25))
        turn = (desired_yaw - yaw + math.pi) % (2 * math.pi) - math.pi
        yaw_rate = max(-4.0, min(4.0, turn / 0.2))
        yaw += yaw_rate * dt
        forward_axis, side_axis = np.array([math.sin(yaw), math.cos(yaw)]), np.array([math.cos(yaw), -math.sin(yaw)])
        forward, sideways = float(velocity @ forward_axis), float(velocity @ side_axis)
        speed = math.hypot(forward, sideways)
        share = abs(sideways) / (speed + 1e-6)
        weights += (_target_weights(speed, share) - weights) * (1.0 - math.exp(-dt / 0.15))
        frequency = weights @ np.array([0.25, 0.8 + 0.45 * speed, 1.2 + 0.25 * speed, 0.9 + 0.4 * speed])
        phase = (phase + frequency * dt) % 1.0
        pitch = slope * math.cos(yaw)

        side = 1.0 if sideways >= 0 else -1.0
        angles = sum(w * _gait_pose(g, phase, speed, side) for w, g in zip(weights, GAITS) if w > 1e-4)
        angles[_J["pelvis"], 0] += -0.5 * pitch
        angles[_J["l_foot"], 0] += pitch
        angles[_J["r_foot"], 0] += pitch
        position[[0, 2]] += velocity * dt
        bob = -(0.02 * weights[1] + 0.05 * weights[2]) * (0.5 + 0.5 * math.cos(4 * math.pi * phase))
        position[1] = position[2] * math.tan(slope) + bob

        a = 2 * math.pi * phase
        stance = [math.sin(a + offset) for offset in (0.0, math.pi)]
        contacts = [weights @ np.array([1.0, float(s < 0.0), float(s < -0.3), float(s < 0.0)]) >= 0.5 for s in stance]
        relative = (desired_yaw - yaw + math.pi) % (2 * math.pi) - math.pi
        out["rotations"].append(sixd_from_matrices(matrices_from_euler(angles)))
        out["root_position"].append(position.copy())
        out["root_yaw"].append(yaw)
        out["root_velocity"].append([forward, sideways, yaw_rate])
        out["desired"].append(
            [float(desired_velocity @ forward_axis), float(desired_velocity @ side_axis), math.sin(relative),
             math.cos(relative)]
        )  # fmt: skip
        out["gait"].append(requested)
        out["phase"].append(phase)
        out["slope"].append(pitch)
        out["contacts"].append(contacts)
        out["blend"].append(weights.copy())
    return {
        key: np.asarray(value, np.int8 if key == "gait" else bool if key == "contacts" else np.float32)
        for key, value in out.items()
    }
