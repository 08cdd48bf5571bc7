"""Configuration of Animation Director: the next pose of a character from its pose and its controls (0.70M)."""

from transformers import PretrainedConfig

from ...configuration_utils import UrukConfigMixin

__all__ = ["ANIMATION_DIRECTOR_PRESETS", "UrukAnimationDirectorConfig"]

ANIMATION_DIRECTOR_PRESETS = {
    "tiny": {"hidden_size": 32, "num_layers": 2},
    "quick": {"hidden_size": 256, "num_layers": 3},
    "full": {"hidden_size": 512, "num_layers": 3},
}
"""MLP sizes per preset; `full` is the published 0.70M model (3 hidden layers of 512)."""


class UrukAnimationDirectorConfig(UrukConfigMixin, PretrainedConfig):
    r"""Configuration of [`UrukAnimationDirector`]: an MLP (LayerNorm, ELU) from one frame's pose and controls to the
    next frame's pose, root motion, gait phase, foot contacts and gait blend weights, at 60 Hz.

    The input vector (`input_size` = `pose_size` + 14) is, in order: the pose, `num_joints` local rotations in 6D;
    the root velocity in the character's frame (forward, sideways, yaw rate); the joystick (desired forward and
    sideways speed, sine and cosine of the facing to turn to); the requested gait as a one-hot over `num_gaits`;
    the sine and cosine of the gait phase; the terrain slope along the facing. The output vector is the pose change
    (`pose_size`), the next root velocity (3), the phase change (1), foot-contact logits (2) and gait blend logits
    (`num_gaits`).

    Args:
        num_joints (`int`, *optional*, defaults to 22): joints of the skeleton.
        num_gaits (`int`, *optional*, defaults to 4): idle, walk, run, strafe.
        hidden_size (`int`, *optional*, defaults to 512): width of each hidden layer.
        num_layers (`int`, *optional*, defaults to 3): hidden layers.
    """

    model_type = "uruk_animation_director"
    required_fields = ("num_joints", "num_gaits", "hidden_size", "num_layers")
    presets = ANIMATION_DIRECTOR_PRESETS

    def __init__(
        self, num_joints: int = 22, num_gaits: int = 4, hidden_size: int = 512, num_layers: int = 3, **kwargs
    ):
        self.num_joints, self.num_gaits = num_joints, num_gaits
        self.hidden_size, self.num_layers = hidden_size, num_layers
        super().__init__(**kwargs)
        if min(num_joints, num_gaits, hidden_size, num_layers) < 1:
            raise ValueError("num_joints, num_gaits, hidden_size and num_layers must all be at least 1.")

    @property
    def pose_size(self) -> int:
        """Values of a pose: 6 per joint."""
        return 6 * self.num_joints

    @property
    def input_size(self) -> int:
        return self.pose_size + 3 + 4 + self.num_gaits + 2 + 1

    @property
    def output_size(self) -> int:
        return self.pose_size + 3 + 1 + 2 + self.num_gaits
