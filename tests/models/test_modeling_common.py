"""The testers every family passes, in the style of transformers' `ModelTesterMixin`: `ModelTesterMixin` for any
model, `RendererModelTesterMixin` for the G-buffer renderers.

A family's test class sets `model_class`, `config_class` and `roles`, and adds only what is special to it.
"""

import pytest
import torch
from transformers import AutoConfig, AutoModel

import uruk_hf
from uruk_hf.catalog import BUDGET_TOLERANCE, count_parameters, iter_models


class ModelTesterMixin:
    """Tests every family's models pass: determinism in eval, save/load, auto classes, the DESIGN §1 budgets and
    presets, and the seed's legacy `.pt` round trip.

    A family's tester sets `model_class`, `config_class` and `roles`, and gives `random_inputs`, `main_output` and
    `training_loss` for its kind of model.
    """

    model_class: type = None
    config_class: type = None
    roles: tuple[str, ...] = ()

    def tiny_config(self, role=None, **kwargs):
        return self.config_class.from_preset("tiny", role=role, **kwargs)

    def tiny_model(self, role=None, seed=0):
        torch.manual_seed(seed)
        return self.model_class(self.tiny_config(role)).eval()

    def random_inputs(self, config, batch=2, seed=0):
        """A batch of the model's main input (a tuple for models of several inputs)."""
        raise NotImplementedError

    def run(self, model, inputs):
        """`model` on `random_inputs` (unpacked when they are a tuple)."""
        return model(*inputs) if isinstance(inputs, tuple) else model(inputs)

    def main_output(self, outputs) -> torch.Tensor:
        """The output tensor two runs are compared on."""
        raise NotImplementedError

    def training_loss(self, model) -> torch.Tensor:
        """A scalar training loss of `model` on random inputs and targets."""
        raise NotImplementedError

    def test_eval_is_deterministic(self):
        model = self.tiny_model()
        inputs = self.random_inputs(model.config)
        with torch.no_grad():
            first, second = self.run(model, inputs), self.run(model, inputs)
        torch.testing.assert_close(self.main_output(first), self.main_output(second), rtol=0, atol=0)

    def test_save_load_round_trip(self, tmp_path):
        model = self.tiny_model(seed=3)
        inputs = self.random_inputs(model.config)
        model.save_pretrained(tmp_path)
        assert (tmp_path / "model.safetensors").is_file()
        reloaded = self.model_class.from_pretrained(tmp_path).eval()
        with torch.no_grad():
            expected, actual = self.run(model, inputs), self.run(reloaded, inputs)
        torch.testing.assert_close(self.main_output(actual), self.main_output(expected), rtol=0, atol=0)
        saved, original = reloaded.config.to_dict(), model.config.to_dict()
        saved.pop("_name_or_path"), original.pop("_name_or_path")
        assert saved == original

    def test_auto_classes(self, tmp_path):
        model = self.tiny_model()
        model.save_pretrained(tmp_path)
        assert isinstance(AutoConfig.from_pretrained(tmp_path), self.config_class)
        assert type(AutoModel.from_pretrained(tmp_path)) is self.model_class
        assert isinstance(AutoModel.from_config(model.config), self.model_class)
        assert uruk_hf.__name__ == "uruk_hf"

    def test_full_size_parameters_within_budget(self):
        rows = [row for _, row in iter_models(published_only=True) if row.config_class is self.config_class]
        assert {row.role for row in rows} == set(self.roles)
        for row in rows:
            params = count_parameters(self.model_class, row.config("full"))
            assert abs(params / row.budget - 1) <= BUDGET_TOLERANCE, (row.key, params, row.budget)

    def test_presets_shrink_and_keep_the_role_order(self):
        for role in self.roles:
            counts = [
                count_parameters(self.model_class, self.config_class.from_preset(p, role=role))
                for p in ("tiny", "quick", "full")
            ]
            assert counts == sorted(counts) and len(set(counts)) == 3
        if set(self.roles) == {"teacher", "student"}:
            for preset in ("tiny", "quick", "full"):
                teacher, student = (
                    count_parameters(self.model_class, self.config_class.from_preset(preset, role=r))
                    for r in ("teacher", "student")
                )
                assert teacher > 2 * student

    def test_unknown_preset_and_role_are_refused(self):
        with pytest.raises(ValueError, match="Unknown preset 'huge'"):
            self.config_class.from_preset("huge")
        with pytest.raises(ValueError, match="Unknown role 'critic'"):
            self.config_class.from_preset("tiny", role="critic")

    def test_legacy_checkpoint_round_trip(self, tmp_path):
        model = self.tiny_model(seed=7)
        optimizer = torch.optim.Adam(model.parameters())
        model.train()
        self.training_loss(model).backward()
        optimizer.step()
        model.eval()
        path = model.save_legacy_checkpoint(
            tmp_path / "stage.pt",
            stage=1,
            epoch=4,
            metrics={"psnr": torch.tensor(30.5)},
            optimizer_state_dict=optimizer.state_dict(),
        )
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        assert checkpoint["stage"] == 1 and checkpoint["epoch"] == 4
        assert checkpoint["metrics"] == {"psnr": 30.5} and type(checkpoint["metrics"]["psnr"]) is float
        assert checkpoint["config"]["model_type"] == self.config_class.model_type
        assert "optimizer_state_dict" in checkpoint
        reloaded = self.model_class.from_legacy_checkpoint(path)
        inputs = self.random_inputs(model.config)
        with torch.no_grad():
            torch.testing.assert_close(
                self.main_output(self.run(reloaded, inputs)),
                self.main_output(self.run(model, inputs)),
                rtol=0,
                atol=0,
            )


class RendererModelTesterMixin(ModelTesterMixin):
    """What every G-buffer renderer passes beyond `ModelTesterMixin`: shapes at odd sizes and at 1080p, the cheap
    render at initialization, gradients, losses, input layouts."""

    def main_output(self, outputs) -> torch.Tensor:
        return outputs.frame

    def training_loss(self, model) -> torch.Tensor:
        frames, labels = self.random_targets(model.config)
        return model(self.random_inputs(model.config), frame_targets=frames, material_labels=labels).loss

    def random_inputs(self, config, batch=2, height=37, width=53, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(batch, config.num_channels, height, width, generator=generator)

    def random_targets(self, config, batch=2, height=37, width=53):
        frames = torch.rand(batch, 3, height, width) * 2.0
        labels = torch.randint(0, max(config.num_labels, 1), (batch, height, width))
        labels[:, :3] = -100
        return frames, labels

    @pytest.mark.parametrize("height,width", [(37, 53), (1, 1), (64, 64)])
    def test_forward_shapes_at_any_size(self, height, width):
        for role in self.roles:
            model = self.tiny_model(role)
            config = model.config
            with torch.no_grad():
                outputs = model(self.random_inputs(config, height=height, width=width))
            assert outputs.frame.shape == (2, 3, height, width)
            assert (outputs.frame >= 0).all()
            if config.use_material_head:
                assert outputs.material_logits.shape == (2, config.num_labels, height, width)
            else:
                assert outputs.material_logits is None

    def test_full_hd_forward_on_meta_device(self):
        for role in self.roles:
            config = self.config_class.from_preset("full", role=role)
            with torch.device("meta"):
                model = self.model_class(config)
                outputs = model(torch.empty(1, config.num_channels, 1080, 1920))
            assert outputs.frame.shape == (1, 3, 1080, 1920)
            if config.use_material_head:
                assert outputs.material_logits.shape == (1, config.num_labels, 1080, 1920)

    def test_untrained_model_returns_about_the_cheap_render(self):
        from uruk_hf.modules.upscaling import demodulated_upscale

        model = self.tiny_model()
        config = model.config
        inputs = self.random_inputs(config)
        cheap = torch.expm1(inputs[:, config.buffer_slice(config.cheap_render_buffer)])
        if config.cheap_render_divisor > 1:
            albedo = inputs[:, config.buffer_slice(config.albedo_buffer)]
            cheap = demodulated_upscale(cheap, albedo, config.cheap_render_divisor)
        with torch.no_grad():
            frame = model(inputs).frame
        assert (frame - cheap).abs().max() < 0.06

    def test_gradients_reach_every_parameter(self):
        for role in self.roles:
            model = self.tiny_model(role).train()
            # Perturb the identity initialization so every branch carries gradient.
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(0.05 * torch.randn_like(parameter))
            frames, labels = self.random_targets(model.config)
            outputs = model(self.random_inputs(model.config), frame_targets=frames, material_labels=labels)
            outputs.loss.backward()
            missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            assert not missing, f"no gradient reaches {missing}"

    def test_gradient_checkpointing_gives_the_same_gradients(self):
        inputs = self.random_inputs(self.tiny_config())
        frames, labels = self.random_targets(self.tiny_config())
        gradients = []
        for checkpointing in (False, True):
            model = self.tiny_model(seed=5).train()
            if checkpointing:
                model.gradient_checkpointing_enable()
                assert model.unet.gradient_checkpointing
            model(inputs, frame_targets=frames, material_labels=labels).loss.backward()
            gradients.append([p.grad.clone() for p in model.parameters()])
        for plain, checkpointed in zip(*gradients):
            torch.testing.assert_close(checkpointed, plain)

    def test_loss_and_tuple_output(self):
        model = self.tiny_model()
        frames, labels = self.random_targets(model.config)
        inputs = self.random_inputs(model.config)
        outputs = model(inputs, frame_targets=frames, material_labels=labels)
        assert outputs.loss.ndim == 0 and torch.isfinite(outputs.loss)
        as_tuple = model(inputs, frame_targets=frames, material_labels=labels, return_dict=False)
        torch.testing.assert_close(as_tuple[0], outputs.loss)
        torch.testing.assert_close(as_tuple[1], outputs.frame)
        assert model(inputs).loss is None

    def test_wrong_channel_count_is_refused(self):
        model = self.tiny_model()
        wrong = model.config.num_channels + 1
        with pytest.raises(ValueError, match=f"expects {model.config.num_channels} input channels.*got {wrong}"):
            model(torch.rand(1, wrong, 8, 8))
        with pytest.raises(ValueError, match="must be \\(batch, channels, height, width\\)"):
            model(torch.rand(model.config.num_channels, 8, 8))

    def test_num_channels_is_the_sum_of_input_buffers(self):
        config = self.config_class()
        assert config.num_channels == sum(entry["channels"] for entry in config.input_buffers)

    def test_default_config_is_the_published_full_size(self):
        config = self.config_class()
        full = self.config_class.from_preset("full")
        assert (config.hidden_sizes, config.depths, config.role) == (full.hidden_sizes, full.depths, full.role)

    def test_bad_layouts_are_refused(self):
        buffers = [dict(entry) for entry in self.config_class().input_buffers]
        cheap = self.config_class().cheap_render_buffer
        with pytest.raises(ValueError, match=f"'{cheap}' is not in input_buffers"):
            self.config_class(input_buffers=[e for e in buffers if e["name"] != cheap])
        with pytest.raises(ValueError, match="repeated: \\['albedo'\\]"):
            self.config_class(input_buffers=[*buffers, {"name": "albedo", "channels": 3}])
