"""Animation Director: the next frame of a character's locomotion from its pose and its controls."""

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ...modeling_utils import UrukPreTrainedModelMixin, has_non_finite
from .configuration_animation_director import UrukAnimationDirectorConfig

__all__ = ["UrukAnimationDirector", "UrukAnimationDirectorOutput", "motion_input", "orthonormal_sixd"]


def orthonormal_sixd(sixd: torch.Tensor) -> torch.Tensor:
    """`(..., 6)` -> the nearest rotation's `(..., 6)` (Gram-Schmidt on the two columns)."""
    x = torch.nn.functional.normalize(sixd[..., :3], dim=-1)
    y = sixd[..., 3:] - (x * sixd[..., 3:]).sum(-1, keepdim=True) * x
    return torch.cat([x, torch.nn.functional.normalize(y, dim=-1)], dim=-1)


def motion_input(pose, root_velocity, desired, gait, phase, slope, num_gaits: int = 4) -> torch.Tensor:
    """The model's input vector (`UrukAnimationDirectorConfig`) from a frame's parts: `pose` `(..., J, 6)`,
    `root_velocity` `(..., 3)`, `desired` `(..., 4)`, `gait` `(...)` integer, `phase` `(...)` in [0, 1),
    `slope` `(...)`."""
    angle = 2 * torch.pi * phase
    gaits = torch.nn.functional.one_hot(gait.long(), num_gaits).to(pose.dtype)
    return torch.cat(
        [pose.flatten(-2), root_velocity, desired, gaits, torch.sin(angle)[..., None], torch.cos(angle)[..., None],
         slope[..., None]], dim=-1,
    )  # fmt: skip


@dataclass
class UrukAnimationDirectorOutput(ModelOutput):
    """Output of [`UrukAnimationDirector`].

    Args:
        pose (`torch.FloatTensor` of shape `(batch_size, num_joints, 6)`): the next pose (orthonormal 6D).
        root_velocity (`torch.FloatTensor` of shape `(batch_size, 3)`): the next root velocity (forward,
            sideways, yaw rate).
        phase_change (`torch.FloatTensor` of shape `(batch_size,)`): how far the gait phase advances.
        contact_logits (`torch.FloatTensor` of shape `(batch_size, 2)`): left and right foot contact.
        blend_weights (`torch.FloatTensor` of shape `(batch_size, num_gaits)`): the gait weights (softmax).
    """

    pose: torch.FloatTensor | None = None
    root_velocity: torch.FloatTensor | None = None
    phase_change: torch.FloatTensor | None = None
    contact_logits: torch.FloatTensor | None = None
    blend_weights: torch.FloatTensor | None = None


class UrukAnimationDirector(UrukPreTrainedModelMixin, PreTrainedModel):
    """Animation Director (0.70M at full size): an MLP with LayerNorm and ELU from one frame's input vector
    (`motion_input`) to the next frame; the pose is predicted as a change of the current one and made a rotation
    again, so a rollout feeds its own output back frame after frame.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukAnimationDirector, UrukAnimationDirectorConfig

    >>> model = UrukAnimationDirector(UrukAnimationDirectorConfig.from_preset("tiny")).eval()
    >>> outputs = model(torch.zeros(1024, model.config.input_size))  # 1024 characters, one frame each
    >>> outputs.pose.shape
    torch.Size([1024, 22, 6])
    ```
    """

    config_class = UrukAnimationDirectorConfig
    base_model_prefix = "director"
    main_input_name = "features"

    def __init__(self, config: UrukAnimationDirectorConfig):
        super().__init__(config)
        layers, width = [], config.input_size
        for _ in range(config.num_layers):
            layers += [
                torch.nn.Linear(width, config.hidden_size),
                torch.nn.LayerNorm(config.hidden_size),
                torch.nn.ELU(),
            ]
            width = config.hidden_size
        self.body = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(width, config.output_size)
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="linear")
            torch.nn.init.zeros_(module.bias)
        if module is getattr(self, "head", None):
            torch.nn.init.normal_(module.weight, std=1e-3)  # starts as "hold the pose"

    def forward(self, features: torch.Tensor, return_dict: bool | None = None):
        r"""
        Args:
            features (`torch.FloatTensor` of shape `(batch_size, config.input_size)`): one frame per character, as
                `motion_input` builds it.
            return_dict (`bool`, *optional*): return a `UrukAnimationDirectorOutput` (default) or a tuple.

        Raises:
            ValueError: wrong shape or NaN/Inf values.
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        config = self.config
        if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[1] != config.input_size:
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"features must be (batch, {config.input_size}), got {shape}.")
        if has_non_finite(features):
            raise ValueError("features hold NaN/Inf values.")
        out = self.head(self.body(features))
        pose_size, gaits = config.pose_size, config.num_gaits
        current = features[:, :pose_size].unflatten(-1, (config.num_joints, 6))
        pose = orthonormal_sixd(current + out[:, :pose_size].unflatten(-1, (config.num_joints, 6)))
        root_velocity = out[:, pose_size : pose_size + 3]
        phase_change = out[:, pose_size + 3]
        contacts = out[:, pose_size + 4 : pose_size + 6]
        blend = torch.softmax(out[:, pose_size + 6 : pose_size + 6 + gaits], dim=-1)
        if not return_dict:
            return pose, root_velocity, phase_change, contacts, blend
        return UrukAnimationDirectorOutput(pose, root_velocity, phase_change, contacts, blend)
