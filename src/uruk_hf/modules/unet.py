"""A residual U-Net trunk, the backbone every G-buffer renderer family builds on.

Why this shape: a G-buffer renderer must see context (shadows, indirect light and a material's texture span many
pixels) yet stay cheap at full resolution. A U-Net puts that context in low-resolution stages where channels are
cheap, and keeps only a few narrow layers at full resolution, which is where the cost of a frame lies. The blocks
have no normalization layers, like real-time denoisers (OIDN): statistics over a frame would make a pixel's output
depend on unrelated pixels and slow inference. Instead every residual branch is scaled by a learnable gain that starts
at zero (SkipInit, De & Smith 2020), so a deep trunk is an identity map at initialization and trains stably without
normalization. The gain is one scalar per block, not a zeroed last convolution: under Adam every weight of a zeroed
convolution moves by about the learning rate at once, in step, and a few coherent steps make each block amplify
its input many times over (measured: trunk features reached 6e8 within 15 steps on 1-spp inputs, saturating the
frame head so that every gradient was exactly zero); one scalar moving by the learning rate cannot.

Families that generate or that act on a condition (diffusion, FiLM) give the U-Net a conditioning vector and/or a
diffusion timestep: every residual block then modulates its features by a per-channel scale and shift predicted
from them (FiLM, Perez et al. 2018), zero-initialized so that a conditioned trunk starts as the unconditioned one.
The timestep is embedded with diffusers' sinusoidal `Timesteps` and its `TimestepEmbedding` MLP, as diffusers'
U-Nets do.

A trunk can also take global context (`UrukGlobalContext`, ParseNet's global pooling, Liu et al. 2015): the mean of
the coarsest level's features over the whole frame, added back to every pixel. Convolutions see a fixed number of
pixels, so at twice the resolution they see a quarter of the scene; the frame mean sees all of it at any size. For
the renderers this is the light that reaches a surface from outside its neighbourhood (measured on the hand-made
scenes: most of the error is low-frequency and did not fall with resolution without it).
"""

import torch
from torch import nn

__all__ = ["UrukGlobalContext", "UrukResidualBlock", "UrukUNet"]


class _ConditionedStage(nn.Sequential):
    """Residual blocks run in order, each given the conditioning embedding (`None` without one). A `Sequential`,
    so the parameter names are those of an unconditioned stage."""

    def forward(self, hidden_states: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        for block in self:
            hidden_states = block(hidden_states, embedding)
        return hidden_states


class UrukResidualBlock(nn.Module):
    """Pre-activation residual block: `x + gain * conv(relu(conv(relu(x))))`, two 3x3 convolutions of `channels`
    width and a learnable scalar `gain` (`residual_gain`) that starts at zero. With `embedding_size`, the first
    convolution's output is modulated by `(1 + scale) * h + shift`, predicted from the conditioning embedding by a
    zero-initialized linear layer (`film`)."""

    def __init__(self, channels: int, embedding_size: int | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.activation = nn.ReLU()
        self.residual_gain = nn.Parameter(torch.zeros(1))
        self.film = None
        if embedding_size is not None:
            self.film = nn.Linear(embedding_size, 2 * channels)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def _init_identity(self) -> None:
        """Zeroes the branch gain so that the block starts as the identity (SkipInit); the convolutions keep their
        normal initialization, so the gain's gradient is informative from the first step."""
        nn.init.zeros_(self.residual_gain)

    def forward(self, hidden_states: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        residual = self.conv1(self.activation(hidden_states))
        if self.film is not None:
            scale, shift = self.film(embedding)[:, :, None, None].chunk(2, dim=1)
            residual = residual * (1 + scale) + shift
        residual = self.conv2(self.activation(residual))
        return hidden_states + self.residual_gain * residual


class UrukGlobalContext(nn.Module):
    """`x + gain * linear(relu(mean_hw(x)))`: every pixel receives a projection of the frame's mean features. The
    scalar `gain` (`residual_gain`) starts at zero, as in the residual blocks, so the block starts as the identity
    and a checkpoint saved without it loads as the same function."""

    def __init__(self, channels: int):
        super().__init__()
        self.linear = nn.Linear(channels, channels)
        self.residual_gain = nn.Parameter(torch.zeros(1))

    def _init_identity(self) -> None:
        """Zero gain; the projection gets PyTorch's default initialization again (transformers leaves weights that
        a checkpoint lacks uninitialized unless the model's `_init_weights` sets them)."""
        self.linear.reset_parameters()
        nn.init.zeros_(self.residual_gain)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        pooled = self.linear(torch.relu(hidden_states.mean(dim=(2, 3))))
        return hidden_states + self.residual_gain * pooled[:, :, None, None]


class UrukUNet(nn.Module):
    """Residual U-Net: a stem, `len(hidden_sizes)` encoder stages joined by stride-2 convolutions, and a mirrored
    decoder of transposed convolutions whose outputs are added to the encoder's skip connections.

    Args:
        in_channels (`int`): channels of the packed input tensor.
        hidden_sizes (`list[int]`): width of each resolution level, full resolution first.
        depths (`list[int]`): residual blocks per level, used by the encoder and again by the decoder (the coarsest
            level has encoder blocks only).
        condition_size (`int`, *optional*): size of a conditioning vector `forward` then takes (`condition`).
        timestep_embedding_size (`int`, *optional*): embed a diffusion timestep `forward` then takes (`timestep`)
            into a vector of this size (diffusers' `Timesteps` + `TimestepEmbedding`).
        global_context (`bool`, *optional*, defaults to `False`): add the frame's mean features to every pixel of
            the coarsest level (`UrukGlobalContext`), after its encoder blocks.

    Input height and width must be multiples of `stride` (`2 ** (len(hidden_sizes) - 1)`); models pad for it.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_sizes: list[int],
        depths: list[int],
        condition_size: int | None = None,
        timestep_embedding_size: int | None = None,
        global_context: bool = False,
    ):
        super().__init__()
        if len(hidden_sizes) != len(depths):
            raise ValueError(f"hidden_sizes ({len(hidden_sizes)} levels) and depths ({len(depths)}) must match.")
        levels = len(hidden_sizes)
        self.condition_size, self.timestep_embedding_size = condition_size, timestep_embedding_size
        self.time_proj = self.time_embedding = None
        if timestep_embedding_size is not None:
            from diffusers.models.embeddings import TimestepEmbedding, Timesteps

            self.time_proj = Timesteps(timestep_embedding_size, flip_sin_to_cos=True, downscale_freq_shift=0)
            self.time_embedding = TimestepEmbedding(timestep_embedding_size, timestep_embedding_size)
        embedding_size = (condition_size or 0) + (timestep_embedding_size or 0) or None

        def stage(channels: int, depth: int) -> _ConditionedStage:
            return _ConditionedStage(*(UrukResidualBlock(channels, embedding_size) for _ in range(depth)))

        self.stem = nn.Conv2d(in_channels, hidden_sizes[0], kernel_size=3, padding=1)
        self.downsamplers = nn.ModuleList(
            nn.Conv2d(hidden_sizes[i - 1], hidden_sizes[i], kernel_size=2, stride=2) for i in range(1, levels)
        )
        self.encoder_stages = nn.ModuleList(stage(hidden_sizes[i], depths[i]) for i in range(levels))
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(hidden_sizes[i + 1], hidden_sizes[i], kernel_size=2, stride=2)
            for i in range(levels - 1)
        )
        self.decoder_stages = nn.ModuleList(stage(hidden_sizes[i], depths[i]) for i in range(levels - 1))
        self.global_context = UrukGlobalContext(hidden_sizes[-1]) if global_context else None
        self.stride = 2 ** (levels - 1)
        self.gradient_checkpointing = False

    def _run_stage(self, stage: nn.Module, hidden_states: torch.Tensor, embedding) -> torch.Tensor:
        if self.gradient_checkpointing and self.training:
            return self._gradient_checkpointing_func(stage.__call__, hidden_states, embedding)
        return stage(hidden_states, embedding)

    def _embedding(self, condition, timestep, batch: int) -> torch.Tensor | None:
        """The blocks' conditioning embedding: the timestep's embedding and the condition, concatenated."""
        parts = []
        if self.time_embedding is not None:
            if timestep is None:
                raise ValueError("This U-Net embeds a diffusion timestep: pass `timestep`.")
            timestep = torch.as_tensor(timestep, device=self.stem.weight.device).reshape(-1).expand(batch)
            parts.append(self.time_embedding(self.time_proj(timestep).to(self.stem.weight.dtype)))
        if self.condition_size is not None:
            if condition is None or condition.shape != (batch, self.condition_size):
                shape = None if condition is None else tuple(condition.shape)
                raise ValueError(
                    f"This U-Net takes a condition of shape ({batch}, {self.condition_size}), got {shape}."
                )
            parts.append(condition)
        return torch.cat(parts, dim=1) if parts else None

    def forward(self, pixel_values: torch.Tensor, condition=None, timestep=None) -> torch.Tensor:
        """Maps `(B, in_channels, H, W)` to full-resolution features `(B, hidden_sizes[0], H, W)`; `condition`
        `(B, condition_size)` and `timestep` (a scalar or `(B,)`) where the U-Net was built to take them."""
        embedding = self._embedding(condition, timestep, pixel_values.shape[0])
        hidden_states = self._run_stage(self.encoder_stages[0], self.stem(pixel_values), embedding)
        skips = [hidden_states]
        for downsample, stage in zip(self.downsamplers, self.encoder_stages[1:]):
            hidden_states = self._run_stage(stage, downsample(hidden_states), embedding)
            skips.append(hidden_states)
        skips.pop()
        if self.global_context is not None:
            hidden_states = self.global_context(hidden_states)
        for level in reversed(range(len(self.decoder_stages))):
            hidden_states = self.upsamplers[level](hidden_states) + skips[level]
            hidden_states = self._run_stage(self.decoder_stages[level], hidden_states, embedding)
        return hidden_states
