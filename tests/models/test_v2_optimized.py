import pytest
import torch

from uruk_hf import UrukV2Optimized, UrukV2OptimizedConfig, UrukV2Ultra, UrukV2UltraConfig

from .test_modeling_common import RendererModelTesterMixin


class TestUrukV2Optimized(RendererModelTesterMixin):
    model_class = UrukV2Optimized
    config_class = UrukV2OptimizedConfig
    roles = ("student",)

    @pytest.mark.parametrize("preset", ["tiny", "quick"])
    def test_warm_starts_from_the_v2_ultra_student(self, preset):
        student = UrukV2Ultra(UrukV2UltraConfig.from_preset(preset, role="student")).eval()
        model = UrukV2Optimized(UrukV2OptimizedConfig.from_preset(preset)).eval()
        model.load_state_dict(student.state_dict(), strict=True)
        inputs = torch.rand(1, 32, 24, 24)
        with torch.no_grad():
            torch.testing.assert_close(model(inputs).frame, student(inputs).frame, rtol=0, atol=0)

    def test_own_model_type(self):
        assert UrukV2OptimizedConfig.model_type != UrukV2UltraConfig.model_type

    def test_v2_ultra_teacher_does_not_fit(self):
        teacher = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", role="teacher"))
        model = UrukV2Optimized(UrukV2OptimizedConfig.from_preset("tiny"))
        with pytest.raises(RuntimeError, match="size mismatch"):
            model.load_state_dict(teacher.state_dict())
