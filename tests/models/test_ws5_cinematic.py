from uruk_hf import UrukWS5CinematicConfig, UrukWS5CinematicRenderer
from uruk_hf.schema import WS5_LAYOUT

from .test_modeling_common import RendererModelTesterMixin


class TestUrukWS5Cinematic(RendererModelTesterMixin):
    model_class = UrukWS5CinematicRenderer
    config_class = UrukWS5CinematicConfig
    roles = ("teacher", "student")

    def test_defaults_are_19_channels_without_material_head(self):
        config = UrukWS5CinematicConfig()
        assert config.num_channels == 19 and config.role == "teacher"
        assert [e["name"] for e in config.input_buffers] == [e["name"] for e in WS5_LAYOUT]
        assert not config.use_material_head and config.id2label == {}
        assert UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny")).material_head is None
