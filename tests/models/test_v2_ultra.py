import torch

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.schema import RAY_RECONSTRUCTION_LAYOUT, V2_LAYOUT

from .test_modeling_common import RendererModelTesterMixin


class TestUrukV2Ultra(RendererModelTesterMixin):
    model_class = UrukV2Ultra
    config_class = UrukV2UltraConfig
    roles = ("teacher", "student")

    def test_defaults_are_the_32_channel_student_with_8_materials(self):
        config = UrukV2UltraConfig()
        assert config.role == "student" and config.num_channels == 32
        assert [e["name"] for e in config.input_buffers] == [e["name"] for e in V2_LAYOUT]
        assert config.num_labels == 8 and config.label2id["metal"] == 0

    def test_ray_reconstruction_layout_works_unchanged(self):
        config = UrukV2UltraConfig.from_preset(
            "tiny", input_buffers=RAY_RECONSTRUCTION_LAYOUT, cheap_render_buffer="path_1spp"
        )
        assert config.num_channels == 32
        model = UrukV2Ultra(config).eval()
        inputs = torch.rand(1, 32, 21, 30)
        cheap = torch.expm1(inputs[:, config.buffer_slice("path_1spp")])
        with torch.no_grad():
            frame = model(inputs).frame
        assert (frame - cheap).abs().max() < 0.06
