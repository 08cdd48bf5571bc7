import numpy as np
import pytest
import torch

from uruk_hf import UrukGBufferProcessor, UrukWS6RuntimeConfig, UrukWS6RuntimeRenderer
from uruk_hf.modules.upscaling import block_average, demodulated_upscale, upscale
from uruk_hf.schema import WS6_LAYOUT

from .test_modeling_common import RendererModelTesterMixin


class TestUrukWS6Runtime(RendererModelTesterMixin):
    model_class = UrukWS6RuntimeRenderer
    config_class = UrukWS6RuntimeConfig
    roles = ("v1", "v2", "student")

    def test_defaults_refine_the_demodulated_upscale_of_the_half_resolution_render(self):
        config = UrukWS6RuntimeConfig()
        assert config.num_channels == 21 and config.role == "v1" and not config.use_material_head
        assert [e["name"] for e in config.input_buffers] == [e["name"] for e in WS6_LAYOUT]
        assert (config.cheap_render_buffer, config.cheap_render_divisor) == ("path_half", 2)

    def test_roles_order_v2_above_v1_above_student(self):
        from uruk_hf.catalog import count_parameters

        for preset in ("tiny", "quick", "full"):
            v1, v2, student = (
                count_parameters(UrukWS6RuntimeRenderer, UrukWS6RuntimeConfig.from_preset(preset, role=role))
                for role in ("v1", "v2", "student")
            )
            assert v2 > v1 > student

    def test_the_student_has_no_residual_blocks_at_full_resolution(self):
        for preset in ("tiny", "quick", "full"):
            model = UrukWS6RuntimeRenderer(UrukWS6RuntimeConfig.from_preset(preset, role="student")).eval()
            assert len(model.unet.encoder_stages[0]) == 0 and len(model.unet.decoder_stages[0]) == 0
            assert model.frame_head.kernel_size == (5 if preset == "tiny" else 3)
        with torch.no_grad():  # the stem's features and the upsampled coarse levels reach the head at any size
            frame = model(torch.rand(1, model.config.num_channels, 19, 27)).frame
        assert frame.shape == (1, 3, 19, 27) and torch.isfinite(frame).all()

    def test_bad_divisor_is_refused(self):
        with pytest.raises(ValueError, match="cheap_render_divisor must be an integer >= 1, got 0"):
            UrukWS6RuntimeConfig(cheap_render_divisor=0)


def test_block_average_recovers_a_repeated_low_resolution_image():
    low = torch.rand(2, 3, 5, 7)
    repeated = low.repeat_interleave(2, -2).repeat_interleave(2, -1)[..., :9, :13]
    torch.testing.assert_close(block_average(repeated, 2), low)


def test_demodulated_upscale_keeps_full_resolution_texture_under_flat_light():
    # Constant illumination 0.5 over a checkerboard albedo: demodulation returns it (up to the albedo floor),
    # bilinear blurs the checkerboard away.
    albedo = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2).float().expand(1, 3, 8, 8) * 0.8 + 0.1
    radiance = 0.5 * albedo
    low = block_average(radiance, 2).repeat_interleave(2, -2).repeat_interleave(2, -1)
    torch.testing.assert_close(demodulated_upscale(low, albedo, 2), radiance, atol=0.02, rtol=0)
    assert (upscale(block_average(low, 2), (8, 8), 2) - radiance).abs().max() > 0.1


def test_processor_accepts_the_half_resolution_render_at_its_own_size():
    processor = UrukGBufferProcessor(input_buffers=WS6_LAYOUT)
    rng = np.random.default_rng(0)
    buffers = {e["name"]: rng.random((9, 13, e["channels"]), np.float32) for e in WS6_LAYOUT}
    buffers["material_id"] = np.ones((9, 13, 1), np.float32)
    low = rng.random((5, 7, 3), np.float32)
    repeated = low.repeat(2, 0).repeat(2, 1)[:9, :13]
    packed_low = processor({**buffers, "path_half": low})["pixel_values"]
    packed_full = processor({**buffers, "path_half": repeated})["pixel_values"]
    torch.testing.assert_close(packed_low, packed_full, rtol=0, atol=0)
    with pytest.raises(ValueError, match="'path_half' is \\(4, 7\\) pixels.*low-resolution buffer may instead"):
        processor({**buffers, "path_half": low[:4]})
