"""NPC Director v2: the shared model tests, and what is special to a causal transformer over ticks."""

import pytest
import torch

from uruk_hf import UrukNPCDirector, UrukNPCDirectorConfig
from uruk_hf.schema import NPC_OBSERVATION_FEATURES, NPC_STATES

from .test_modeling_common import ModelTesterMixin


class TestUrukNPCDirector(ModelTesterMixin):
    model_class = UrukNPCDirector
    config_class = UrukNPCDirectorConfig
    roles = (None,)

    def random_inputs(self, config, batch=2, ticks=20, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(batch, ticks, config.observation_size, generator=generator)

    def main_output(self, outputs) -> torch.Tensor:
        return torch.cat([outputs.state_logits, outputs.move_logits], dim=-1)

    def training_loss(self, model) -> torch.Tensor:
        inputs = self.random_inputs(model.config)
        states = torch.randint(0, model.config.num_labels, inputs.shape[:2])
        moves = torch.randint(0, model.config.num_moves, inputs.shape[:2])
        return model(inputs, state_labels=states, move_labels=moves).loss

    def test_config_describes_the_simulator(self):
        config = UrukNPCDirectorConfig()
        assert config.observation_size == len(NPC_OBSERVATION_FEATURES) and config.window == 32
        assert [config.id2label[index] for index in range(config.num_labels)] == list(NPC_STATES)

    def test_a_tick_never_sees_later_ticks(self):
        model = self.tiny_model()
        inputs = self.random_inputs(model.config)
        changed = inputs.clone()
        changed[:, 10:] = torch.rand_like(changed[:, 10:])
        with torch.no_grad():
            before, after = self.main_output(model(inputs)), self.main_output(model(changed))
        torch.testing.assert_close(before[:, :10], after[:, :10], rtol=0, atol=1e-6)
        assert not torch.allclose(before[:, 10:], after[:, 10:])

    def test_the_cache_and_the_step_give_the_logits_of_the_whole_episode(self):
        """A game's two ways of stepping a tick at a time (transformers' cache, the exported fixed-size `step`)
        give the logits of running the episode at once, far past the window."""
        model = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny", window=6)).eval()
        inputs = self.random_inputs(model.config, ticks=25)
        with torch.no_grad():
            whole = self.main_output(model(inputs))
            past, state, cached, stepped = None, model.initial_state(len(inputs)), [], []
            for tick in range(inputs.shape[1]):
                outputs = model(inputs[:, tick : tick + 1], past_key_values=past, use_cache=True)
                past = outputs.past_key_values
                cached.append(self.main_output(outputs))
                outputs = model.step(inputs[:, tick : tick + 1], **state)
                state = model.next_state(outputs)
                stepped.append(self.main_output(outputs))
        torch.testing.assert_close(torch.cat(cached, dim=1), whole, rtol=0, atol=1e-5)
        torch.testing.assert_close(torch.cat(stepped, dim=1), whole, rtol=0, atol=1e-5)
        assert state["past_key_values"][0][0].shape[-2] == 5 and state["past_ticks"].tolist() == [[25], [25]]

    def test_each_layer_sees_its_window_and_no_further(self):
        """A tick reaches a decision through at most `num_layers * (window - 1)` ticks; the window-1 control is
        memoryless."""
        model = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny", window=6)).eval()
        reach = model.config.num_layers * (model.config.window - 1)
        inputs = self.random_inputs(model.config, ticks=reach + 5)
        changed = inputs.clone()
        changed[:, 0] = torch.rand_like(changed[:, 0])
        with torch.no_grad():
            difference = (self.main_output(model(inputs)) - self.main_output(model(changed))).abs().amax(dim=(0, 2))
        assert (difference[: reach + 1] > 0).all() and (difference[reach + 1 :] == 0).all()
        memoryless = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny", window=1)).eval()
        with torch.no_grad():
            difference = self.main_output(memoryless(inputs)) - self.main_output(memoryless(changed))
        assert (difference[:, 1:] == 0).all() and (difference[:, 0] != 0).any()

    def test_a_gpt2_director_of_an_earlier_version_is_refused_by_name(self, tmp_path):
        import json

        config = UrukNPCDirectorConfig.from_preset("tiny").to_dict()
        del config["num_key_value_heads"]
        (tmp_path / "config.json").write_text(json.dumps(config))
        with pytest.raises(ValueError, match="GPT-2 decoder with absolute positions.*retrain it"):
            UrukNPCDirectorConfig.from_pretrained(tmp_path)

    def test_bad_inputs_are_named(self):
        model = self.tiny_model()
        with pytest.raises(ValueError, match=r"must be \(batch >= 1, ticks >= 1, 34\)"):
            model(torch.rand(2, 5, 33))
        with pytest.raises(TypeError, match="must be a torch tensor of torch.float32"):
            model(self.random_inputs(model.config).double())
        poisoned = self.random_inputs(model.config)
        poisoned[0, 3, NPC_OBSERVATION_FEATURES.index("health")] = float("nan")
        with pytest.raises(ValueError, match=r"NaN/Inf values in the features health \(1\)"):
            model(poisoned)


def test_the_exported_step_runs_whole_episodes_as_eager_does(tmp_path):
    """ONNX Runtime stepping tick by tick on the exported fixed-size state gives eager's logits of the whole
    episode, and a state that does not fit is named."""
    from uruk_hf import UrukORTNPCDirector
    from uruk_hf.exporters.onnx import export_onnx

    torch.manual_seed(0)
    model = UrukNPCDirector(UrukNPCDirectorConfig.from_preset("tiny", window=6)).eval()
    model.save_pretrained(tmp_path)
    record = export_onnx(tmp_path, tmp_path)
    assert all(check["step_max_difference"] <= 1e-4 for check in record["validation"])
    runtime = UrukORTNPCDirector.from_pretrained(tmp_path)
    episodes = torch.rand(3, 20, model.config.observation_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = model(episodes)
    onnx = runtime(episodes)
    torch.testing.assert_close(onnx.state_logits, eager.state_logits, rtol=0, atol=1e-4)
    torch.testing.assert_close(onnx.move_logits, eager.move_logits, rtol=0, atol=1e-4)
    state = runtime.initial_state(2)
    with pytest.raises(ValueError, match="past_ticks holds 2 NPCs where observations hold 3"):
        runtime.step(episodes[:, :1].numpy(), **state)
    with pytest.raises(ValueError, match="past_key_values holds 1 layers where the model has 2"):
        runtime.step(episodes[:2, :1].numpy(), **{**state, "past_key_values": state["past_key_values"][:1]})
