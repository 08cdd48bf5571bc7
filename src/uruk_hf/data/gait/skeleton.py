"""A 22-joint humanoid skeleton, forward kinematics and the rotation representations of the locomotion data.

Joint rotations are local (relative to the parent), as a game engine's animation pose; the model reads and writes
them in the continuous 6D representation (the first two columns of the rotation matrix, Zhou et al. 2019), which
has no wrap-around. Metres, y up, the character facing +z.
"""

import numpy as np

__all__ = [
    "FEET",
    "JOINT_NAMES",
    "OFFSETS",
    "PARENTS",
    "forward_kinematics",
    "geodesic_degrees",
    "matrices_from_euler",
    "matrices_from_sixd",
    "sixd_from_matrices",
]

JOINT_NAMES = (
    "pelvis", "spine1", "spine2", "spine3", "neck", "head",
    "l_clavicle", "l_upper_arm", "l_forearm", "l_hand",
    "r_clavicle", "r_upper_arm", "r_forearm", "r_hand",
    "l_thigh", "l_shin", "l_foot", "l_toe",
    "r_thigh", "r_shin", "r_foot", "r_toe",
)  # fmt: skip
PARENTS = (-1, 0, 1, 2, 3, 4, 3, 6, 7, 8, 3, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20)
OFFSETS = np.array(
    [
        [0.0, 0.95, 0.0], [0.0, 0.10, 0.0], [0.0, 0.12, 0.0], [0.0, 0.12, 0.0], [0.0, 0.12, 0.0], [0.0, 0.10, 0.0],
        [0.05, 0.08, 0.0], [0.13, 0.0, 0.0], [0.0, -0.28, 0.0], [0.0, -0.25, 0.0],
        [-0.05, 0.08, 0.0], [-0.13, 0.0, 0.0], [0.0, -0.28, 0.0], [0.0, -0.25, 0.0],
        [0.10, -0.05, 0.0], [0.0, -0.42, 0.0], [0.0, -0.42, 0.0], [0.0, -0.05, 0.13],
        [-0.10, -0.05, 0.0], [0.0, -0.42, 0.0], [0.0, -0.42, 0.0], [0.0, -0.05, 0.13],
    ],
    np.float64,
)  # fmt: skip
"""Rest offsets from each joint's parent (the pelvis's from the ground under the character), arms hanging."""

FEET = (JOINT_NAMES.index("l_foot"), JOINT_NAMES.index("r_foot"))


def matrices_from_euler(angles: np.ndarray) -> np.ndarray:
    """`(..., 3)` local rotations as X, then Y, then Z angles in radians (intrinsic) -> `(..., 3, 3)`."""
    x, y, z = angles[..., 0], angles[..., 1], angles[..., 2]
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    one, zero = np.ones_like(x), np.zeros_like(x)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*x.shape, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*x.shape, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*x.shape, 3, 3)
    return rx @ ry @ rz


def sixd_from_matrices(matrices: np.ndarray) -> np.ndarray:
    """`(..., 3, 3)` -> `(..., 6)`: the first two columns."""
    return np.concatenate([matrices[..., :, 0], matrices[..., :, 1]], axis=-1)


def matrices_from_sixd(sixd):
    """`(..., 6)` -> `(..., 3, 3)` by Gram-Schmidt (numpy arrays or torch tensors)."""
    if isinstance(sixd, np.ndarray):
        a, b = sixd[..., :3], sixd[..., 3:]
        x = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-8)
        b = b - (x * b).sum(-1, keepdims=True) * x
        y = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-8)
        return np.stack([x, y, np.cross(x, y)], axis=-1)
    import torch

    a, b = sixd[..., :3], sixd[..., 3:]
    x = torch.nn.functional.normalize(a, dim=-1)
    y = torch.nn.functional.normalize(b - (x * b).sum(-1, keepdim=True) * x, dim=-1)
    return torch.stack([x, y, torch.cross(x, y, dim=-1)], dim=-1)


def geodesic_degrees(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The angle in degrees of the rotation between `(..., 3, 3)` matrices, per joint."""
    relative = np.swapaxes(first, -1, -2) @ second
    cosine = (np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def forward_kinematics(rotations: np.ndarray, root_position: np.ndarray, root_yaw: np.ndarray) -> np.ndarray:
    """World joint positions `(T, 22, 3)` from local rotation matrices `(T, 22, 3, 3)`, the root's ground
    position `(T, 3)` and heading `(T,)` (radians about +y)."""
    frames = rotations.shape[0]
    heading = matrices_from_euler(np.stack([np.zeros(frames), root_yaw, np.zeros(frames)], -1))
    world_rotations = np.zeros_like(rotations)
    positions = np.zeros((frames, len(PARENTS), 3))
    for joint, parent in enumerate(PARENTS):
        if parent < 0:
            world_rotations[:, joint] = heading @ rotations[:, joint]
            positions[:, joint] = root_position + (heading @ OFFSETS[joint])
        else:
            world_rotations[:, joint] = world_rotations[:, parent] @ rotations[:, joint]
            positions[:, joint] = positions[:, parent] + world_rotations[:, parent] @ OFFSETS[joint]
    return positions
