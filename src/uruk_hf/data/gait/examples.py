"""Animated GIFs of the skeleton: a reference and a prediction side by side, drawn with PIL."""

from pathlib import Path

import numpy as np

from ...file_utils import atomic_path
from .skeleton import PARENTS, forward_kinematics, matrices_from_sixd

__all__ = ["write_skeleton_gif"]


def write_skeleton_gif(
    path: str | Path, reference: np.ndarray, predicted: np.ndarray, root_position: np.ndarray, root_yaw: np.ndarray,
    every: int = 4, size: int = 240,
) -> Path:  # fmt: skip
    """Writes a GIF of two skeletons seen from the side, each in the character's own frame (root at the centre):
    `reference` in grey on the left, `predicted` in red on the right, one image every `every` frames (15 per
    second at 60 Hz)."""
    from PIL import Image, ImageDraw

    images = []
    for rotations, colour in ((reference, (110, 110, 110)), (predicted, (200, 40, 40))):
        positions = forward_kinematics(
            matrices_from_sixd(np.asarray(rotations, np.float64)),
            np.zeros((len(rotations), 3)),
            np.zeros(len(rotations)),
        )
        images.append((positions, colour))
    frames = []
    for frame in range(0, len(reference), every):
        canvas = Image.new("RGB", (2 * size, size), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for panel, (positions, colour) in enumerate(images):
            points = positions[frame][:, [2, 1]] * np.array([size / 2.2, -size / 2.2]) + np.array(
                [size * (panel + 0.5), size * 0.95]
            )
            for joint, parent in enumerate(PARENTS):
                if parent >= 0:
                    draw.line([tuple(points[parent]), tuple(points[joint])], fill=colour, width=3)
        frames.append(canvas)
    path = Path(path)
    with atomic_path(path) as temporary:
        frames[0].save(
            temporary, format="GIF", save_all=True, append_images=frames[1:], duration=1000 * every // 60, loop=0
        )
    return path
