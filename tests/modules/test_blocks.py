"""The generic blocks: the residual U-Net (identity at initialization, stable under Adam, conditioning, global
context), the MLP and the patch discriminator."""

import pytest
import torch

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.modules.unet import UrukResidualBlock


def test_blocks_start_as_the_identity_with_normally_initialized_convolutions():
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="teacher"))
    blocks = [module for module in model.modules() if isinstance(module, UrukResidualBlock)]
    assert blocks
    for block in blocks:
        assert block.residual_gain.item() == 0.0
        assert block.conv2.weight.abs().sum() > 0  # SkipInit zeroes the gain, not the convolution
        hidden = torch.randn(1, block.conv1.in_channels, 8, 8)
        torch.testing.assert_close(block(hidden), hidden, rtol=0, atol=0)


def test_one_adam_step_changes_a_block_by_about_the_learning_rate():
    """Adam moves every parameter by about the learning rate at its first step. A zeroed last convolution then
    moves all its weights in step and the block amplifies its input many times over (the trunk reached 6e8 in 15
    steps on 1-spp data); one zeroed scalar gain moving by the learning rate changes the block by about that much."""
    torch.manual_seed(0)
    block = UrukResidualBlock(64)
    block._init_identity()
    hidden = torch.randn(2, 64, 16, 16)
    direction = torch.randn_like(hidden)
    optimizer = torch.optim.Adam(block.parameters(), lr=1e-2)
    (block(hidden) * direction).sum().backward()
    optimizer.step()
    with torch.no_grad():
        change = (block(hidden) - hidden).norm() / hidden.norm()
    assert 0 < change < 0.05, f"one step at lr 1e-2 changed the block by {change:.3f} of its input"


def test_patch_discriminator_scores_patches():
    from uruk_hf.modules.patch_discriminator import PatchDiscriminator

    scores = PatchDiscriminator(width=8, layers=3)(torch.rand(2, 3, 64, 48))
    assert scores.shape == (2, 1, 8, 6)


def _plain_and_extended_unet(**options):
    """A small plain U-Net and one built with `options` that holds the plain one's weights, both with their residual
    branches open (gain 0.5, so that the trunks compute something)."""
    from uruk_hf.modules.unet import UrukUNet

    torch.manual_seed(0)
    plain = UrukUNet(5, [8, 16], [1, 1])
    torch.manual_seed(0)
    extended = UrukUNet(5, [8, 16], [1, 1], **options)
    extended.load_state_dict(plain.state_dict(), strict=False)
    for module in (plain, extended):
        for block in module.modules():
            if isinstance(block, UrukResidualBlock):
                block.residual_gain.data.fill_(0.5)
    return plain, extended


def test_conditioned_unet_starts_as_the_unconditioned_one_then_follows_its_condition():
    plain, conditioned = _plain_and_extended_unet(condition_size=3, timestep_embedding_size=8)
    assert set(plain.state_dict()) <= set(conditioned.state_dict())  # the same names: unconditioned weights load
    pixels = torch.rand(2, 5, 16, 16)
    first, second = torch.zeros(2, 3), torch.ones(2, 3)
    with torch.no_grad():
        torch.testing.assert_close(conditioned(pixels, first, timestep=10), plain(pixels))  # FiLM starts at zero
        for block in conditioned.modules():
            if isinstance(block, UrukResidualBlock):
                block.film.weight.normal_()
        assert not torch.allclose(conditioned(pixels, first, timestep=10), conditioned(pixels, second, timestep=10))
        assert not torch.allclose(conditioned(pixels, first, timestep=10), conditioned(pixels, first, timestep=500))
    with pytest.raises(ValueError, match=r"condition of shape \(2, 3\), got None"):
        conditioned(pixels, timestep=10)
    with pytest.raises(ValueError, match="pass `timestep`"):
        conditioned(pixels, first)


def test_global_context_starts_as_the_identity_then_reaches_every_pixel():
    plain, with_context = _plain_and_extended_unet(global_context=True)
    pixels = torch.rand(1, 5, 64, 64)
    changed = pixels.clone()
    changed[..., 56:, 56:] += 1.0  # far outside the convolutions' reach from the top-left corner
    with torch.no_grad():
        torch.testing.assert_close(with_context(pixels), plain(pixels))  # the gain starts at zero
        torch.testing.assert_close(plain(changed)[..., :4, :4], plain(pixels)[..., :4, :4])
        with_context.global_context.residual_gain.fill_(1.0)
        assert not torch.allclose(with_context(changed)[..., :4, :4], with_context(pixels)[..., :4, :4])


def test_a_checkpoint_without_global_context_loads_as_the_same_function(tmp_path):
    """Configs saved before the field existed load with the family's default (on for V2): the missing block starts
    at zero gain with finite weights, so the model computes what it computed before."""
    import json

    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", global_context=False)).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["global_context"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = UrukV2Ultra.from_pretrained(tmp_path).eval()
    assert loaded.config.global_context and loaded.unet.global_context is not None
    assert torch.isfinite(loaded.unet.global_context.linear.weight).all()
    pixels = torch.rand(1, 32, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels).frame, model(pixels).frame, rtol=0, atol=0)


def test_mlp_layers():
    from uruk_hf.modules.mlp import UrukMLP

    mlp = UrukMLP(12, [16, 8], 5)
    assert [layer.out_features for layer in mlp.layers if isinstance(layer, torch.nn.Linear)] == [16, 8, 5]
    assert mlp(torch.rand(7, 12)).shape == (7, 5)
