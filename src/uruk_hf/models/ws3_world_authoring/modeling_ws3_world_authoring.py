"""The WS3 world-authoring denoiser: diffusers' `UNet2DModel` inside a transformers `PreTrainedModel`, conditioned
on a knob vector, with a learned null condition for classifier-free guidance."""

from dataclasses import dataclass
from functools import lru_cache

import torch
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ...modeling_utils import UrukPreTrainedModelMixin, has_non_finite
from ...schema import WORLD_HEIGHT_LINEAR_KNOBS, WORLD_KNOBS, world_height_knob_patterns
from .configuration_ws3_world_authoring import UrukWS3WorldAuthoringConfig

__all__ = ["UrukWS3WorldAuthoring", "UrukWS3WorldAuthoringOutput", "check_denoiser_input"]

_KNOB_FREQUENCY_MAX = 100.0
"""Radians per knob unit of the fastest sinusoidal knob feature (they fall geometrically towards 1)."""

_HEIGHT_KNOB_COLUMNS = [WORLD_KNOBS.index(name) for name in WORLD_HEIGHT_LINEAR_KNOBS]
"""Where the knobs of `WORLD_HEIGHT_LINEAR_KNOBS` sit in a knob vector."""


@lru_cache(maxsize=8)
def _height_knob_patterns(size: int) -> torch.Tensor:
    """`world_height_knob_patterns(size)` as a tensor, made once per map size (every denoiser call reads it)."""
    return torch.from_numpy(world_height_knob_patterns(size))


def check_denoiser_input(config, sample: torch.Tensor, knobs: torch.Tensor | None) -> None:
    """Checks a denoiser call's `sample` and `knobs` against `config` (the PyTorch model and its ONNX Runtime class).

    Raises:
        ValueError: wrong shapes, or NaN/Inf in `sample` or `knobs` (the message names the knobs).
    """
    if not isinstance(sample, torch.Tensor) or sample.ndim != 4 or sample.shape[1] != config.map_channels:
        shape = tuple(sample.shape) if isinstance(sample, torch.Tensor) else type(sample).__name__
        raise ValueError(f"sample must be (batch, {config.map_channels}, size, size), got {shape}.")
    if sample.shape[-1] % config.map_stride or sample.shape[-2] != sample.shape[-1]:
        raise ValueError(
            f"sample maps must be square with a side divisible by {config.map_stride}, got {tuple(sample.shape[-2:])}."
        )
    if knobs is not None and (knobs.ndim != 2 or tuple(knobs.shape) != (sample.shape[0], config.num_knobs)):
        raise ValueError(f"knobs must be (batch={sample.shape[0]}, {config.num_knobs}), got {tuple(knobs.shape)}.")
    if has_non_finite(sample):
        raise ValueError("sample holds NaN/Inf values.")
    if knobs is not None and has_non_finite(knobs):
        bad = (~torch.isfinite(knobs)).any(dim=0).tolist()
        named = [name for name, flag in zip(WORLD_KNOBS, bad) if flag] if len(bad) == len(WORLD_KNOBS) else bad
        raise ValueError(f"knobs hold NaN/Inf values in {named}.")


def _kept_channels(width: int, kept: int, groups: int | None) -> torch.Tensor:
    """Which of `width` channels a narrower copy with `kept` keeps: the leading ones of each of `groups` groups when
    both divide into them, else the leading ones."""
    if groups and width % groups == 0 and kept % groups == 0:
        per_group, kept_per_group = width // groups, kept // groups
        return torch.tensor([group * per_group + i for group in range(groups) for i in range(kept_per_group)])
    return torch.arange(kept)


def _nearest_sinusoids(width: int, kept: int) -> torch.Tensor:
    """For each feature of a `kept`-wide timestep embedding of diffusers' `Timesteps` (cosines then sines, frequency
    `i` of `n / 2` being `10000 ** (-i / (n / 2))`), the `width`-wide embedding's feature nearest in frequency (the
    same frequency for every other one when `width / kept` is 3/2, as from the full teacher to its student)."""
    half, kept_half = width // 2, kept // 2
    nearest = torch.round(torch.arange(kept_half) * half / kept_half).long()
    return torch.cat([nearest, half + nearest])


def _up_block_inputs(widths: list[int], teacher_widths: list[int], layers_per_block: int) -> dict:
    """For each residual block of `UNet2DModel`'s up path (its parameter-name prefix): the widths of the two parts of
    its input, `((hidden, hidden_teacher), (skip, skip_teacher))`, as diffusers' `UpBlock2D` concatenates them."""
    reversed_widths, reversed_teacher = list(reversed(widths)), list(reversed(teacher_widths))
    levels, parts = len(widths), {}
    output, output_teacher = reversed_widths[0], reversed_teacher[0]
    for level in range(levels):
        previous, previous_teacher = output, output_teacher
        output, output_teacher = reversed_widths[level], reversed_teacher[level]
        below = min(level + 1, levels - 1)
        for index in range(layers_per_block + 1):
            hidden = (previous, previous_teacher) if index == 0 else (output, output_teacher)
            last = index == layers_per_block
            skip = (reversed_widths[below], reversed_teacher[below]) if last else (output, output_teacher)
            parts[f"unet.up_blocks.{level}.resnets.{index}."] = (hidden, skip)
    return parts


def _is_block_input(name: str, dim: int) -> bool:
    """Whether dimension `dim` of parameter `name` of an up-path residual block runs over its concatenated input."""
    if name.endswith(("norm1.weight", "norm1.bias")):
        return dim == 0
    return name.endswith(("conv1.weight", "conv_shortcut.weight")) and dim == 1


@dataclass
class UrukWS3WorldAuthoringOutput(ModelOutput):
    """Output of [`UrukWS3WorldAuthoring`].

    Args:
        sample (`torch.FloatTensor` of shape `(batch_size, map_channels, map_size, map_size)`):
            The prediction for the noisy maps, of `config.prediction_type`: the clean map (`"sample"`) or the
            velocity `v = sqrt(alpha_bar) * noise - sqrt(1 - alpha_bar) * map` (`"v_prediction"`); the noise and the
            clean map both follow from either and the noisy map.
    """

    sample: torch.FloatTensor | None = None


class UrukWS3WorldAuthoring(UrukPreTrainedModelMixin, PreTrainedModel):
    """The WS3 denoiser (9.03M teacher, 3.36M student at full size): diffusers' `UNet2DModel` (its residual,
    attention, down- and up-sampling blocks and timestep embedding), whose class embedding is an MLP of the knob
    vector and its sinusoidal features (`config.knob_features`); the knobs that describe a height pattern also enter
    as that pattern, one input channel each (`config.knob_maps`). Rows without a condition use a learned null
    embedding and no patterns instead, so one model gives both terms of classifier-free guidance. It is a
    `PreTrainedModel` so that `AutoModel.from_pretrained(repo, subfolder=...)` and the Trainer load it like every
    Uruk model; `UrukWorldMapPipeline` (a diffusers `DiffusionPipeline`) samples maps with it.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukWS3WorldAuthoring, UrukWS3WorldAuthoringConfig

    >>> model = UrukWS3WorldAuthoring(UrukWS3WorldAuthoringConfig.from_preset("tiny")).eval()
    >>> noisy = torch.randn(2, model.config.map_channels, 64, 64)
    >>> clean = model(noisy, torch.tensor([10, 500]), knobs=torch.rand(2, model.config.num_knobs)).sample
    ```
    """

    config_class = UrukWS3WorldAuthoringConfig
    base_model_prefix = "denoiser"
    main_input_name = "sample"

    def __init__(self, config: UrukWS3WorldAuthoringConfig):
        from diffusers import UNet2DModel

        super().__init__(config)
        width = config.condition_size
        self.unet = UNet2DModel(**config.unet_kwargs())
        for module in self.unet.modules():  # diffusers' blocks pad with zeros; `config.padding_mode` says otherwise
            if isinstance(module, torch.nn.Conv2d) and any(module.padding):
                module.padding_mode = config.padding_mode
        self.knob_embedding = torch.nn.Sequential(
            torch.nn.Linear(config.num_knobs * (1 + config.knob_features), width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
        )
        self.null_condition = torch.nn.Parameter(torch.zeros(width))
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        """diffusers initializes its own blocks; only the knob embedding is set here (PyTorch's defaults)."""

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        knobs: torch.Tensor | None = None,
        drop_condition: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> UrukWS3WorldAuthoringOutput | tuple:
        r"""
        Args:
            sample (`torch.FloatTensor` of shape `(batch_size, map_channels, map_size, map_size)`):
                Noisy maps.
            timestep (`torch.LongTensor` of shape `(batch_size,)` or `int`):
                Their noise levels (steps of the training schedule).
            knobs (`torch.FloatTensor` of shape `(batch_size, num_knobs)`, *optional*):
                The requested knobs, each in [0, 1]; `None`: unconditional (the null condition for every row).
            drop_condition (`torch.BoolTensor` of shape `(batch_size,)`, *optional*):
                Rows that get the null condition although `knobs` is given (training's condition dropout, and the
                unconditional half of a guided batch).
            return_dict (`bool`, *optional*): return a `UrukWS3WorldAuthoringOutput` (default) or a tuple.

        Raises:
            ValueError: wrong shapes, or NaN/Inf in `sample` or `knobs`.
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        check_denoiser_input(self.config, sample, knobs)
        batch = sample.shape[0]
        null = self.null_condition.to(sample.dtype).expand(batch, -1)
        if knobs is None:
            condition = null
        else:
            condition = self.knob_embedding(self._knob_features(knobs.to(sample.dtype)))
            if drop_condition is not None:
                condition = torch.where(drop_condition[:, None].to(condition.device), null, condition)
        if not torch.is_tensor(timestep) or timestep.ndim == 0:
            timestep = torch.full((batch,), int(timestep), device=sample.device, dtype=torch.long)
        patch = self.config.patch_size
        inputs = sample
        if self.config.knob_maps:
            inputs = torch.cat([sample, self._knob_maps(sample, knobs, drop_condition)], dim=1)
        patches = torch.nn.functional.pixel_unshuffle(inputs, patch) if patch > 1 else inputs
        prediction = self.unet(patches, timestep, class_labels=condition).sample
        prediction = torch.nn.functional.pixel_shuffle(prediction, patch) if patch > 1 else prediction
        if not return_dict:
            return (prediction,)
        return UrukWS3WorldAuthoringOutput(sample=prediction)

    def initialize_from_teacher(self, teacher: "UrukWS3WorldAuthoring") -> dict:
        """Sets every weight of this denoiser to the matching slice of a wider `teacher`'s (structured width
        pruning, as Minitron starts a student before distilling it): each channel space keeps, in every group-norm
        group, the teacher's leading channels, so the groups normalize what they did (the leading channels overall
        where the two group counts differ); the up-path's inputs, where diffusers concatenates the skip connection
        to the hidden features, take each part's channels; the first layer of the timestep embedding reads, for
        each sinusoid of this model's, the teacher's of the nearest frequency. On the quick preset a student so
        pruned from a trained teacher, before any training, had a held-out denoising loss of 0.115 against the
        teacher's 0.107 and 0.168 for the same student distilled from scratch (README, WS3).

        Returns:
            The report: `teacher_parameters`, `student_parameters`.

        Raises:
            ValueError: the two differ in a field other than the widths and the group count, or a width of this
                model exceeds the teacher's.
        """
        ours, theirs = self.config, teacher.config
        shared = ("map_channels", "num_knobs", "patch_size", "layers_per_block", "knob_features", "knob_maps",
                  "resnet_time_scale_shift", "padding_mode", "prediction_type")  # fmt: skip
        differing = [name for name in shared if getattr(ours, name) != getattr(theirs, name)]
        if len(ours.block_out_channels) != len(theirs.block_out_channels):
            differing.append("len(block_out_channels)")
        if differing:
            raise ValueError(f"The teacher differs from this denoiser in {differing}; only widths may differ.")
        if any(mine > its for mine, its in zip(ours.block_out_channels, theirs.block_out_channels)):
            raise ValueError(
                f"block_out_channels {ours.block_out_channels} exceed the teacher's {theirs.block_out_channels}."
            )
        groups = ours.norm_num_groups if ours.norm_num_groups == theirs.norm_num_groups else None
        concatenated = _up_block_inputs(ours.block_out_channels, theirs.block_out_channels, ours.layers_per_block)
        source = teacher.state_dict()
        with torch.no_grad():
            for name, tensor in self.state_dict().items():
                kept = source[name]
                parts = next((widths for prefix, widths in concatenated.items() if name.startswith(prefix)), None)
                for dim in range(tensor.ndim):
                    if tensor.shape[dim] == kept.shape[dim]:
                        continue
                    if name == "unet.time_embedding.linear_1.weight" and dim == 1:
                        index = _nearest_sinusoids(kept.shape[dim], tensor.shape[dim])
                    elif parts is not None and _is_block_input(name, dim):
                        (hidden, hidden_teacher), (skip, skip_teacher) = parts
                        index = torch.cat(
                            [_kept_channels(hidden_teacher, hidden, groups),
                             hidden_teacher + _kept_channels(skip_teacher, skip, groups)]
                        )  # fmt: skip
                    else:
                        index = _kept_channels(kept.shape[dim], tensor.shape[dim], groups)
                    kept = kept.index_select(dim, index)
                tensor.copy_(kept)
        return {
            "teacher_parameters": sum(p.numel() for p in teacher.parameters()),
            "student_parameters": sum(p.numel() for p in self.parameters()),
        }

    def _knob_maps(
        self, sample: torch.Tensor, knobs: torch.Tensor | None, drop_condition: torch.Tensor | None
    ) -> torch.Tensor:
        """The knob maps (`config.knob_maps`): each pattern of `world_height_knob_patterns` times its knob minus 0.5,
        zero for rows without a condition."""
        patterns = _height_knob_patterns(sample.shape[-1]).to(sample.device, sample.dtype)
        if knobs is None:
            return patterns.new_zeros(sample.shape[0], *patterns.shape)
        scales = knobs[:, _HEIGHT_KNOB_COLUMNS].to(sample.dtype) - 0.5
        if drop_condition is not None:
            scales = torch.where(drop_condition[:, None].to(scales.device), 0.0, scales)
        return scales[:, :, None, None] * patterns

    def _knob_features(self, knobs: torch.Tensor) -> torch.Tensor:
        """Each knob followed by its `config.knob_features` sinusoidal features."""
        if not self.config.knob_features:
            return knobs
        from diffusers.models.embeddings import get_timestep_embedding

        features = get_timestep_embedding(
            knobs.reshape(-1) * _KNOB_FREQUENCY_MAX,
            self.config.knob_features,
            flip_sin_to_cos=True,
            downscale_freq_shift=0,
            max_period=int(_KNOB_FREQUENCY_MAX),
        )
        return torch.cat([knobs, features.to(knobs.dtype).view(knobs.shape[0], -1)], dim=1)  # traceable batch
