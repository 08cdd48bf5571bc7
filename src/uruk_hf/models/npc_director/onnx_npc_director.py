"""The Optimum ONNX interface of NPC Director: one tick for a batch of NPCs on a fixed-size state
(`UrukNPCDirector.step`), the way a game calls it. The batch is dynamic; the state's sizes follow the config."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.exporters.onnx.model_patcher import ModelPatcher
from optimum.utils import DummyInputGenerator, NormalizedConfig

from .modeling_npc_director import STEP_STATE_NAMES

__all__ = ["UrukNPCDirectorOnnxConfig", "UrukNPCStepDummyInputGenerator", "UrukNPCStepPatcher"]


class UrukNPCStepDummyInputGenerator(DummyInputGenerator):
    """A tick and a state for tracing and validation: observations in the range of the simulator's normalized
    features, positions, random keys and values, and a mask with some NPCs still in their first ticks (a fixed
    seed, so validation is reproducible)."""

    SUPPORTED_INPUT_NAMES = ("observations", *(f"past_{name}" for name in STEP_STATE_NAMES))

    def __init__(self, task: str, normalized_config, batch_size: int = 3, **_):
        self.task, self.config = task, normalized_config.config
        self.batch_size = batch_size

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        value = self._generate(input_name)
        return value.numpy() if framework == "np" else value

    def _generate(self, input_name: str) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        config, batch = self.config, self.batch_size
        past = config.window - 1
        if input_name == "observations":
            return torch.rand((batch, 1, config.observation_size), generator=generator) * 2.0 - 1.0
        if input_name == "past_ticks":
            return torch.randint(0, 4 * config.window, (batch, 1), generator=generator)
        if input_name == "past_mask":  # NPC i has seen i ticks (the rest of the batch a full window)
            seen = torch.arange(batch).clamp(max=past)
            return (torch.arange(past)[None] >= past - seen[:, None]).float()
        shape = (batch, config.num_layers, config.num_key_value_heads, past, config.head_dim)
        return torch.randn(shape, generator=generator)


class UrukNPCStepPatcher(ModelPatcher):
    """Exports `UrukNPCDirector.step` in place of `forward` (Optimum traces and validates through the patcher)."""

    def __init__(self, config: OnnxConfig, model, model_kwargs: dict | None = None):
        super().__init__(config, model, model_kwargs)

        def step(observations, past_ticks, past_keys, past_values, past_mask):
            outputs = model.step(observations, past_ticks, past_keys, past_values, past_mask)
            return {name: outputs[name] for name in config.outputs}

        self.patched_forward = step


class UrukNPCDirectorOnnxConfig(OnnxConfig):
    """NPC Director's ONNX interface: `observations` `(batch, 1, observation_size)` and the state `past_ticks`
    `(batch, 1)`, `past_keys`, `past_values` `(batch, num_layers, num_key_value_heads, window - 1, head_dim)`,
    `past_mask` `(batch, window - 1)` in; `state_logits`, `move_logits` `(batch, 1, classes)` and the next state
    `present_ticks`, `present_keys`, `present_values`, `present_mask` out."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukNPCStepDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    VALIDATION_SHAPES = ({"batch_size": 2}, {"batch_size": 70})
    """Where `export_onnx` validates: two NPCs, and a batch that holds NPCs at every fill of the state."""
    QUANTIZED_OPERATORS = ("MatMul", "Gemm")
    FLOAT_MODULES = ()

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        names = ("observations", *(f"past_{name}" for name in STEP_STATE_NAMES))
        return {name: {0: "batch_size"} for name in names}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        names = ("state_logits", "move_logits", *(f"present_{name}" for name in STEP_STATE_NAMES))
        return {name: {0: "batch_size"} for name in names}

    def patch_model_for_export(self, model, model_kwargs: dict | None = None) -> UrukNPCStepPatcher:
        return UrukNPCStepPatcher(self, model, model_kwargs=model_kwargs)

    def parity(self, model, onnx_path, inputs: dict[str, torch.Tensor]) -> tuple[str, float]:
        """The max absolute difference of the logits and the next state between `step` and ONNX Runtime."""
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        names = list(self.outputs)
        found = session.run(names, {name: value.numpy() for name, value in inputs.items()})
        with torch.inference_mode():
            reference = model.step(**inputs)
        differences = [(torch.from_numpy(value) - reference[name]).abs().max() for name, value in zip(names, found)]
        return "step_max_difference", float(max(differences))
