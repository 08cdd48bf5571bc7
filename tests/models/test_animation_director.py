"""Animation Director: the shared model tests, and what is special to a pose-to-pose MLP fed back on itself."""

import pytest
import torch

from uruk_hf import UrukAnimationDirector, UrukAnimationDirectorConfig
from uruk_hf.data.gait.animator import ClipSettings, animate_clip
from uruk_hf.models.animation_director.modeling_animation_director import motion_input

from .test_modeling_common import ModelTesterMixin


def _features(clip: dict) -> torch.Tensor:
    parts = {key: torch.as_tensor(value) for key, value in clip.items()}
    parts["gait"] = parts["gait"].long()
    keys = ("rotations", "root_velocity", "desired", "gait", "phase", "slope")
    return motion_input(*(parts[key] for key in keys))


class TestUrukAnimationDirector(ModelTesterMixin):
    model_class = UrukAnimationDirector
    config_class = UrukAnimationDirectorConfig
    roles = (None,)

    def random_inputs(self, config, batch=3, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(batch, config.input_size, generator=generator)

    def main_output(self, outputs) -> torch.Tensor:
        return torch.cat([outputs.pose.flatten(1), outputs.root_velocity, outputs.contact_logits], dim=-1)

    def training_loss(self, model) -> torch.Tensor:
        return self.main_output(model(self.random_inputs(model.config))).square().mean()

    def test_sizes_match_the_animator(self):
        clip = animate_clip(0, ClipSettings(frames=4))
        features = _features(clip)
        config = UrukAnimationDirectorConfig()
        assert features.shape == (4, config.input_size) and config.input_size == 146 and config.output_size == 142

    def test_an_untrained_model_holds_the_pose_as_a_rotation(self):
        model = self.tiny_model()
        clip = animate_clip(1, ClipSettings(frames=2))
        features = _features(clip)
        with torch.no_grad():
            pose = model(features).pose
        assert (pose - torch.as_tensor(clip["rotations"])).abs().max() < 0.05
        torch.testing.assert_close(pose[..., :3].norm(dim=-1), torch.ones(2, 22))  # unit columns
        assert (pose[..., :3] * pose[..., 3:]).sum(-1).abs().max() < 1e-5  # orthogonal

    def test_bad_inputs_are_named(self):
        model = self.tiny_model()
        with pytest.raises(ValueError, match=r"features must be \(batch, 146\)"):
            model(torch.rand(2, 145))
        bad = self.random_inputs(model.config)
        bad[1, 7] = float("inf")
        with pytest.raises(ValueError, match="NaN/Inf"):
            model(bad)
