"""Configuration of the WS3 world-authoring denoiser: a knob-conditioned diffusers `UNet2DModel` (9.03M; the
student 3.36M)."""

from transformers import PretrainedConfig

from ...configuration_utils import UrukConfigMixin
from ...schema import WORLD_HEIGHT_LINEAR_KNOBS, WORLD_KNOBS, WORLD_MAP_CHANNELS

__all__ = ["WS3_PRESETS", "UrukWS3WorldAuthoringConfig"]

WS3_PRESETS = {
    "tiny": {
        "teacher": {"block_out_channels": [16, 16, 32], "layers_per_block": 1, "norm_num_groups": 8},
        "student": {"block_out_channels": [8, 8, 16], "layers_per_block": 1, "norm_num_groups": 4},
    },
    "quick": {
        "teacher": {"block_out_channels": [16, 32, 48, 64], "layers_per_block": 1, "norm_num_groups": 8},
        "student": {
            "block_out_channels": [16, 24, 32, 32],
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "num_inference_steps": 10,
        },
    },
    "full": {
        "teacher": {"block_out_channels": [48, 96, 128, 144], "layers_per_block": 2, "norm_num_groups": 16},
        "student": {
            "block_out_channels": [32, 48, 64, 96],
            "layers_per_block": 2,
            "norm_num_groups": 16,
            "num_inference_steps": 10,
        },
    },
}
"""U-Net widths per preset and role; `full` is the published teacher (9.03M) and student (3.36M). An untrained
student samples in 10 steps (its few-step sampler); the lifecycle chooses every trained model's steps and guidance
on the validation split (`WorldAuthoringTask.tune_inference`)."""


class UrukWS3WorldAuthoringConfig(UrukConfigMixin, PretrainedConfig):
    r"""Configuration of [`UrukWS3WorldAuthoring`]: a denoiser of world maps (`WORLD_MAP_CHANNELS`)
    conditioned on the knob vector (`WORLD_KNOBS`), built from diffusers' `UNet2DModel`, with the noise schedule it
    is trained under and the sampler settings of its pipeline.

    Args:
        map_size (`int`, *optional*, defaults to 64):
            Cells a side of a map.
        map_channels (`int`, *optional*, defaults to 9):
            Channels of a map (`len(WORLD_MAP_CHANNELS)`).
        num_knobs (`int`, *optional*, defaults to 16):
            Knobs of the condition (`len(WORLD_KNOBS)`).
        patch_size (`int`, *optional*, defaults to 2):
            Side of the cell patches the U-Net works on: each `patch_size x patch_size` patch of a map becomes one
            position with `map_channels * patch_size**2` channels (pixel unshuffle; shuffled back at the output),
            which divides the U-Net's work by `patch_size**2`.
        block_out_channels (`list[int]`, *optional*, defaults to the full preset's widths of `role`):
            Widths of the U-Net's levels (each level halves the resolution); the lowest level has self-attention.
        layers_per_block (`int`, *optional*, defaults to 2):
            Residual blocks per level.
        norm_num_groups (`int`, *optional*, defaults to 16):
            Group-norm groups (must divide every width).
        knob_features (`int`, *optional*, defaults to 16):
            Sinusoidal features per knob fed to the knob embedding beside the knob itself (diffusers'
            `get_timestep_embedding`, as a timestep is embedded; frequencies from about 2 to 100 radians per knob
            unit): they let a small network tell apart requests that differ by a few hundredths. 0 feeds the raw
            knobs only.
        knob_maps (`bool`, *optional*, defaults to `True`):
            Also feed the U-Net the knobs that describe a height pattern as that pattern, one input channel each
            (`WORLD_HEIGHT_LINEAR_KNOBS`: a ramp along x for `tilt_x`, along z for `tilt_z`, the centre above the
            border for `centre_bias`, each scaled by the knob's distance from 0.5; zero without a condition). The
            knob embedding reaches every cell as the same vector, from which a few minutes of training do not learn
            to draw a tilt.
        resnet_time_scale_shift (`str`, *optional*, defaults to `"scale_shift"`):
            How the time and knob embedding enters each residual block, as diffusers' `UNet2DModel` names it:
            `"scale_shift"` scales and shifts the block's normalized features per channel (FiLM, as in Dhariwal and
            Nichol's U-Net), `"default"` only adds a bias per channel. An added bias barely moves statistics of a
            whole map: on the quick preset, measured land height, height spread and roughness of maps sampled with
            it followed their knobs with slopes of 0.27, 0.54 and 0.28; scaled and shifted, 1.16, 0.99 and 0.53.
        padding_mode (`str`, *optional*, defaults to `"zeros"`):
            How every convolution of the U-Net pads its input, as `torch.nn.Conv2d` names it: `"zeros"` (diffusers'
            own) or `"circular"` (the map wraps around, a torus). Zero padding makes each map's left and right edges
            a step along x and its top and bottom a step along z, which is what the ridge-direction knob
            `anisotropy_x` measures, and with it that knob was never learned. Padded circularly, with the loss's
            height-gradient term at 4 (the `long` recipe of `uruk train ws3 --recipe`, the full preset's), it can
            be learned, and 3,000 steps of the quick-size teacher reached lower test knob errors than with zeros;
            within the quick preset's budget that recipe is worse (README, WS3), so zeros stay the default and the
            `short` recipe's.
        condition_dropout (`float`, *optional*, defaults to 0.1):
            Share of training items whose knobs are replaced by the learned null condition (classifier-free
            guidance).
        num_train_timesteps (`int`, *optional*, defaults to 1000):
            Steps of the training noise schedule (diffusers' `DDPMScheduler`).
        beta_schedule (`str`, *optional*, defaults to `"squaredcos_cap_v2"`):
            The schedule's betas.
        prediction_type (`str`, *optional*, defaults to `"sample"`):
            What the denoiser predicts, as diffusers names it: `"sample"` (the clean map) or `"v_prediction"` (the
            velocity). A clean-map prediction that is not yet exact is a smooth map, where an inexact velocity
            leaves cell-scale noise in the clean-map estimates that the sampler keeps: on the quick preset's
            budget, v-prediction's sampled heights were 6 to 19 times rougher than the data's (cell-to-cell second
            differences) and the measured roughness knob saturated; clean-map prediction's matched the data's.
        num_inference_steps (`int`, *optional*, defaults to 25):
            Steps of the pipeline's `DPMSolverMultistepScheduler` by default. Training sets it with the guidance
            scale (`WorldAuthoringTask.tune_inference`).
        guidance_scale (`float`, *optional*, defaults to 1.25):
            Classifier-free guidance scale of the pipeline by default (1 disables guidance). Training sets it: the
            lifecycle chooses each trained model's scale on the validation split's knob error
            (`WorldAuthoringTask.tune_inference`).
        role (`str`, *optional*, defaults to `"teacher"`):
            `"teacher"` or `"student"` (the student starts from the teacher's pruned weights and is distilled from
            its predictions).
    """

    model_type = "uruk_ws3_world_authoring"
    required_fields = (
        "map_size",
        "map_channels",
        "num_knobs",
        "block_out_channels",
        "layers_per_block",
        "norm_num_groups",
        "prediction_type",
        "knob_features",
        "knob_maps",
        "resnet_time_scale_shift",
    )
    presets = WS3_PRESETS
    prediction_types = {"sample": "the clean map", "v_prediction": "the velocity"}
    """What each `prediction_type` predicts, in words (the card says it)."""
    resnet_time_scale_shifts = ("default", "scale_shift")
    """The values of `resnet_time_scale_shift` (diffusers' `UNet2DModel` takes these two)."""
    padding_modes = ("zeros", "circular")
    """The values of `padding_mode`."""
    default_role = "teacher"

    def __init__(
        self,
        map_size: int = 64,
        map_channels: int = len(WORLD_MAP_CHANNELS),
        num_knobs: int = len(WORLD_KNOBS),
        patch_size: int = 2,
        block_out_channels: list[int] | None = None,
        layers_per_block: int = 2,
        norm_num_groups: int = 16,
        knob_features: int = 16,
        knob_maps: bool = True,
        resnet_time_scale_shift: str = "scale_shift",
        padding_mode: str = "zeros",
        condition_dropout: float = 0.1,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "squaredcos_cap_v2",
        prediction_type: str = "sample",
        num_inference_steps: int = 25,
        guidance_scale: float = 1.25,
        role: str = "teacher",
        **kwargs,
    ):
        self.map_size, self.map_channels, self.num_knobs = map_size, map_channels, num_knobs
        self.patch_size = patch_size
        self.block_out_channels = list(block_out_channels or WS3_PRESETS["full"][role]["block_out_channels"])
        self.layers_per_block, self.norm_num_groups = layers_per_block, norm_num_groups
        self.knob_features, self.knob_maps = knob_features, knob_maps
        self.resnet_time_scale_shift = resnet_time_scale_shift
        self.padding_mode = padding_mode
        self.condition_dropout, self.num_train_timesteps, self.beta_schedule = (
            condition_dropout,
            num_train_timesteps,
            beta_schedule,
        )
        self.prediction_type = prediction_type
        self.num_inference_steps, self.guidance_scale, self.role = num_inference_steps, guidance_scale, role
        super().__init__(**kwargs)
        if prediction_type not in self.prediction_types:
            raise ValueError(f"prediction_type {prediction_type!r} is not one of {tuple(self.prediction_types)}.")
        if resnet_time_scale_shift not in self.resnet_time_scale_shifts:
            raise ValueError(
                f"resnet_time_scale_shift {resnet_time_scale_shift!r} is not one of {self.resnet_time_scale_shifts}."
            )
        if padding_mode not in self.padding_modes:
            raise ValueError(f"padding_mode {padding_mode!r} is not one of {self.padding_modes}.")
        if knob_features < 0 or knob_features % 2:
            raise ValueError(f"knob_features must be an even number >= 0 (sines and cosines), got {knob_features}.")
        if any(width % norm_num_groups for width in self.block_out_channels):
            raise ValueError(
                f"norm_num_groups {norm_num_groups} must divide every width of {self.block_out_channels}."
            )
        if map_size % (patch_size * 2 ** (len(self.block_out_channels) - 1)):
            raise ValueError(
                f"map_size {map_size} must divide into patches of {patch_size} and then halve "
                f"{len(self.block_out_channels) - 1} times."
            )

    @property
    def map_stride(self) -> int:
        """What a map's side must be a multiple of: the patch, halved at every level below the first."""
        return self.patch_size * 2 ** (len(self.block_out_channels) - 1)

    @property
    def knob_map_channels(self) -> int:
        """Input channels the knob maps add (`knob_maps`)."""
        return len(WORLD_HEIGHT_LINEAR_KNOBS) if self.knob_maps else 0

    @property
    def condition_size(self) -> int:
        """Width of the knob embedding: the U-Net's time-embedding width, to which it is added."""
        return self.block_out_channels[0] * 4

    def unet_kwargs(self) -> dict:
        """The arguments of diffusers' `UNet2DModel`: plain residual levels and self-attention at the lowest one,
        the knob embedding added to the time embedding (`class_embed_type="identity"`), which reaches each residual
        block as `resnet_time_scale_shift` says."""
        levels = len(self.block_out_channels)
        return {
            "sample_size": self.map_size // self.patch_size,
            "in_channels": (self.map_channels + self.knob_map_channels) * self.patch_size**2,
            "out_channels": self.map_channels * self.patch_size**2,
            "block_out_channels": tuple(self.block_out_channels),
            "layers_per_block": self.layers_per_block,
            "down_block_types": ("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
            "up_block_types": ("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
            "norm_num_groups": self.norm_num_groups,
            "attention_head_dim": 8,
            "class_embed_type": "identity",
            "resnet_time_scale_shift": self.resnet_time_scale_shift,
        }

    def sampler_kwargs(self) -> dict:
        """The arguments of the pipeline's `DPMSolverMultistepScheduler`: the training schedule, DPM-Solver++ with
        dynamic thresholding of its clean-map estimates to the maps' range [-1, 1] (what diffusers recommends for
        pixel-space models)."""
        return {**self.scheduler_kwargs(), "thresholding": True, "sample_max_value": 1.0}

    def scheduler_kwargs(self) -> dict:
        """The arguments of the training `DDPMScheduler`."""
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_schedule": self.beta_schedule,
            "prediction_type": self.prediction_type,
        }
