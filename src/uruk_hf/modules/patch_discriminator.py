"""A small patch discriminator (pix2pix's PatchGAN, Isola et al. 2017): a few strided convolutions that score
every receptive-field patch of an image as real or generated, so an adversarial loss judges local texture and noise
rather than the whole frame."""

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """`(B, in_channels, H, W)` images to `(B, 1, H / 2**(layers - 1), W / 2**(layers - 1))` patch scores (higher:
    more real).

    Every convolution is spectrally normalized (Miyato et al. 2018), which keeps the discriminator 1-Lipschitz and the
    adversarial term from overwhelming the reconstruction terms in a short fine-tuning stage.

    Args:
        in_channels (`int`): image channels.
        width (`int`): channels of the first convolution; each later stride-2 layer doubles them.
        layers (`int`): stride-2 convolutions before the 1-channel scoring convolution.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, layers: int = 3):
        super().__init__()
        blocks, channels = [], in_channels
        for index in range(layers):
            out_channels = width * 2**index
            blocks += [spectral_norm(nn.Conv2d(channels, out_channels, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            channels = out_channels
        blocks.append(spectral_norm(nn.Conv2d(channels, 1, 3, padding=1)))
        self.layers = nn.Sequential(*blocks)

    def forward(self, images):
        return self.layers(images)
