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
"""

import torch
from torch import nn

__all__ = ["UrukResidualBlock", "UrukUNet"]


class UrukResidualBlock(nn.Module):
    """Pre-activation residual block: `x + gain * conv(relu(conv(relu(x))))`, two 3x3 convolutions of `channels`
    width and a learnable scalar `gain` (`residual_gain`) that starts at zero."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.activation = nn.ReLU()
        self.residual_gain = nn.Parameter(torch.zeros(1))

    def _init_identity(self) -> None:
        """Zeroes the branch gain so that the block starts as the identity (SkipInit); the convolutions keep their
        normal initialization, so the gain's gradient is informative from the first step."""
        nn.init.zeros_(self.residual_gain)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = self.conv1(self.activation(hidden_states))
        residual = self.conv2(self.activation(residual))
        return hidden_states + self.residual_gain * residual


class UrukUNet(nn.Module):
    """Residual U-Net: a stem, `len(hidden_sizes)` encoder stages joined by stride-2 convolutions, and a mirrored
    decoder of transposed convolutions whose outputs are added to the encoder's skip connections.

    Args:
        in_channels (`int`): channels of the packed input tensor.
        hidden_sizes (`list[int]`): width of each resolution level, full resolution first.
        depths (`list[int]`): residual blocks per level, used by the encoder and again by the decoder (the coarsest
            level has encoder blocks only).

    Input height and width must be multiples of `stride` (`2 ** (len(hidden_sizes) - 1)`); models pad for it.
    """

    def __init__(self, in_channels: int, hidden_sizes: list[int], depths: list[int]):
        super().__init__()
        if len(hidden_sizes) != len(depths):
            raise ValueError(f"hidden_sizes ({len(hidden_sizes)} levels) and depths ({len(depths)}) must match.")
        levels = len(hidden_sizes)
        self.stem = nn.Conv2d(in_channels, hidden_sizes[0], kernel_size=3, padding=1)
        self.downsamplers = nn.ModuleList(
            nn.Conv2d(hidden_sizes[i - 1], hidden_sizes[i], kernel_size=2, stride=2) for i in range(1, levels)
        )
        self.encoder_stages = nn.ModuleList(
            nn.Sequential(*(UrukResidualBlock(hidden_sizes[i]) for _ in range(depths[i]))) for i in range(levels)
        )
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(hidden_sizes[i + 1], hidden_sizes[i], kernel_size=2, stride=2)
            for i in range(levels - 1)
        )
        self.decoder_stages = nn.ModuleList(
            nn.Sequential(*(UrukResidualBlock(hidden_sizes[i]) for _ in range(depths[i]))) for i in range(levels - 1)
        )
        self.stride = 2 ** (levels - 1)
        self.gradient_checkpointing = False

    def _run_stage(self, stage: nn.Module, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing and self.training:
            return self._gradient_checkpointing_func(stage.__call__, hidden_states)
        return stage(hidden_states)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Maps `(B, in_channels, H, W)` to full-resolution features `(B, hidden_sizes[0], H, W)`."""
        hidden_states = self._run_stage(self.encoder_stages[0], self.stem(pixel_values))
        skips = [hidden_states]
        for downsample, stage in zip(self.downsamplers, self.encoder_stages[1:]):
            hidden_states = self._run_stage(stage, downsample(hidden_states))
            skips.append(hidden_states)
        skips.pop()
        for level in reversed(range(len(self.decoder_stages))):
            hidden_states = self.upsamplers[level](hidden_states) + skips[level]
            hidden_states = self._run_stage(self.decoder_stages[level], hidden_states)
        return hidden_states
