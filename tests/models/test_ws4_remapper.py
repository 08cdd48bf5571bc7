"""WS4 world remapper: the shared model tests, its condition, its identity start and its ONNX Runtime class."""

import pytest
import torch

from uruk_hf import UrukWS4Remapper, UrukWS4RemapperConfig
from uruk_hf.schema import WS4_LAYOUT

from .test_modeling_common import ModelTesterMixin


class TestUrukWS4Remapper(ModelTesterMixin):
    model_class = UrukWS4Remapper
    config_class = UrukWS4RemapperConfig
    roles = ("v1", "v2", "student")

    def random_inputs(self, config, batch=2, seed=0, height=29, width=35):
        generator = torch.Generator().manual_seed(seed)
        pixel_values = torch.rand(batch, config.num_channels, height, width, generator=generator)
        condition = torch.zeros(batch, config.condition_size)
        condition[:, 0] = 1.0
        condition[:, len(config.lighting_presets) + 3] = 1.0
        return pixel_values, condition

    def main_output(self, outputs) -> torch.Tensor:
        return outputs.frame

    def training_loss(self, model) -> torch.Tensor:
        pixel_values, condition = self.random_inputs(model.config)
        return model(pixel_values, condition, frame_targets=torch.rand(2, 3, 29, 35)).loss

    def test_presets_shrink_and_keep_the_role_order(self):
        from uruk_hf.catalog import count_parameters

        for preset in ("tiny", "quick", "full"):
            v1, v2, student = (
                count_parameters(UrukWS4Remapper, UrukWS4RemapperConfig.from_preset(preset, role=role))
                for role in ("v1", "v2", "student")
            )
            assert v1 == v2 > 2 * student
        sizes = [count_parameters(UrukWS4Remapper, UrukWS4RemapperConfig.from_preset(p)) for p in ("tiny", "quick")]
        assert sizes == sorted(sizes) and sizes[-1] < count_parameters(UrukWS4Remapper, UrukWS4RemapperConfig())

    def test_layout_and_condition_sizes(self):
        config = UrukWS4RemapperConfig()
        assert config.num_channels == 35 and config.condition_size == 12
        assert [e["name"] for e in config.input_buffers] == [e["name"] for e in WS4_LAYOUT]

    def test_untrained_model_passes_reflected_light_and_adds_the_target_emission(self):
        torch.manual_seed(0)
        model = UrukWS4Remapper(UrukWS4RemapperConfig.from_preset("tiny")).eval()
        pixel_values, condition = self.random_inputs(model.config)
        pixel_values[:, model.config.buffer_slice("target_key_irradiance")] = 0.0  # first, all light is fill light

        def buffer(name):
            return torch.expm1(pixel_values[:, model.config.buffer_slice(name)])

        # The source frame less what its emitters and sky put there, then the target's emitters and sky as they are.
        expected = (buffer("source_frame") - buffer("source_emission")).clamp(min=0) + buffer("target_emission")
        with torch.no_grad():
            frame = model(pixel_values, condition).frame
            assert (frame - expected).abs().max() < 0.05
            brighter = pixel_values.clone()
            brighter[:, model.config.buffer_slice("target_emission")] += 1.0
            added = model(brighter, condition).frame - frame
            lit = pixel_values.clone()
            lit[:, model.config.buffer_slice("target_irradiance")] += 1.0
            lit_added = model(lit, condition).frame - frame
        # An untrained head reads no features, so the target's emission goes straight through, and the target's
        # irradiance reaches the frame as a diffuse surface reflects it (albedo / pi), times the initial visibility.
        assert torch.allclose(added, buffer("target_emission") * (torch.e - 1) + torch.e - 1, atol=1e-4)
        more_irradiance = buffer("target_irradiance") * (torch.e - 1) + torch.e - 1
        expected_lit = 0.01 * pixel_values[:, model.config.buffer_slice("albedo")] * more_irradiance / torch.pi
        assert torch.allclose(lit_added, expected_lit, atol=1e-4)
        # All of the irradiance from the key light instead: it goes through the shadow map, not the visibility.
        keyed = pixel_values.clone()
        keyed[:, model.config.buffer_slice("target_key_irradiance")] = pixel_values[
            :, model.config.buffer_slice("target_irradiance")
        ]
        with torch.no_grad():
            keyed_added = model(keyed, condition).frame - frame
        albedo = pixel_values[:, model.config.buffer_slice("albedo")]
        shadow = pixel_values[:, model.config.buffer_slice("target_shadow")]
        expected_keyed = 0.01 * albedo * (shadow - 1.0) * buffer("target_irradiance") / torch.pi
        assert torch.allclose(keyed_added, expected_keyed, atol=1e-4)
        # The key light's specular reflection also goes through the shadow map, with no albedo.
        glossy = pixel_values.clone()
        glossy[:, model.config.buffer_slice("target_key_specular")] += 1.0
        with torch.no_grad():
            glossy_added = model(glossy, condition).frame - frame
        more_specular = buffer("target_key_specular") * (torch.e - 1) + torch.e - 1
        assert torch.allclose(glossy_added, 0.01 * shadow * more_specular, atol=1e-4)

    def test_the_condition_changes_the_frame_once_trained(self):
        torch.manual_seed(0)
        model = UrukWS4Remapper(UrukWS4RemapperConfig.from_preset("tiny")).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        pixel_values, condition = self.random_inputs(model.config, batch=1)
        for name in ("source_emission", "target_emission"):  # surfaces only: all of the frame is the model's
            pixel_values[:, model.config.buffer_slice(name)] = 0.0
        other = condition.roll(1, dims=1)
        for _ in range(30):  # two conditions, two targets: FiLM must tell them apart
            loss = model(pixel_values, condition, frame_targets=torch.zeros(1, 3, 29, 35)).loss
            loss = loss + model(pixel_values, other, frame_targets=torch.ones(1, 3, 29, 35)).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            assert model(pixel_values, other).frame.mean() > model(pixel_values, condition).frame.mean() + 0.2

    def test_bad_inputs_are_refused_by_name(self):
        model = UrukWS4Remapper(UrukWS4RemapperConfig.from_preset("tiny")).eval()
        pixel_values, condition = self.random_inputs(model.config)
        with pytest.raises(ValueError, match="condition must be \\(batch, 12\\)"):
            model(pixel_values, condition[:, :5])
        with pytest.raises(ValueError, match="pixel_values must be \\(batch, 35, height, width\\)"):
            model(pixel_values[:, :5], condition)
        condition[0, 0] = float("nan")
        with pytest.raises(ValueError, match="condition holds NaN/Inf"):
            model(pixel_values, condition)
