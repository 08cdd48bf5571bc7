"""The Optimum ONNX interface of NPC Director: one tick for a batch of NPCs on a fixed-size state
(`UrukNPCDirector.step`), the way a game calls it. The batch is dynamic; the state's sizes follow the config. The
cache tensors carry Optimum's decoder names (`past_key_values.<layer>.key`, `present.<layer>.key`, ...)."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.exporters.onnx.model_patcher import ModelPatcher
from optimum.utils import DummyInputGenerator, NormalizedConfig

from .modeling_npc_director import flat_cache_names, step_feed, step_outputs_by_name

__all__ = ["UrukNPCDirectorOnnxConfig", "UrukNPCStepDummyInputGenerator", "UrukNPCStepPatcher"]


class UrukNPCStepDummyInputGenerator(DummyInputGenerator):
    """A tick and a state for tracing and validation: observations in the range of the simulator's normalized
    features, tick counts, a mask with some NPCs still in their first ticks, random keys and values (a fixed seed,
    so validation is reproducible)."""

    SUPPORTED_INPUT_NAMES = ("observations", "past_ticks", "past_mask", "past_key_values")

    def __init__(self, task: str, normalized_config, batch_size: int = 3, **_):
        self.task, self.config = task, normalized_config.config
        self.batch_size = batch_size

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        generator = torch.Generator().manual_seed(0)
        config, batch = self.config, self.batch_size
        past = config.window - 1
        if input_name == "observations":
            value = torch.rand((batch, 1, config.observation_size), generator=generator) * 2.0 - 1.0
        elif input_name == "past_ticks":
            value = torch.randint(0, 4 * config.window, (batch, 1), generator=generator)
        elif input_name == "past_mask":  # NPC i has seen i ticks (the rest of the batch a full window)
            seen = torch.arange(batch).clamp(max=past)
            value = (torch.arange(past)[None] >= past - seen[:, None]).float()
        else:
            shape = (batch, config.num_key_value_heads, past, config.head_dim)
            value = tuple(
                (torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))
                for _ in range(config.num_layers)
            )
            return value if framework == "pt" else tuple((key.numpy(), val.numpy()) for key, val in value)
        return value.numpy() if framework == "np" else value


class UrukNPCStepPatcher(ModelPatcher):
    """Exports `UrukNPCDirector.step` in place of `forward` (Optimum traces and validates through the patcher),
    with its outputs flattened to the ONNX names."""

    def __init__(self, config: OnnxConfig, model, model_kwargs: dict | None = None):
        super().__init__(config, model, model_kwargs)

        def step(observations, past_ticks, past_mask, past_key_values):
            return step_outputs_by_name(model.step(observations, past_ticks, past_mask, past_key_values))

        self.patched_forward = step


class UrukNPCDirectorOnnxConfig(OnnxConfig):
    """NPC Director's ONNX interface: `observations` `(batch, 1, observation_size)` and the state `past_ticks`
    `(batch, 1)`, `past_mask` `(batch, window - 1)`, `past_key_values.<layer>.key` and `.value` `(batch,
    num_key_value_heads, window - 1, head_dim)` in; `state_logits`, `move_logits` `(batch, 1, classes)` and the next
    state `present_ticks`, `present_mask`, `present.<layer>.key` and `.value` out."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukNPCStepDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    VALIDATION_SHAPES = ({"batch_size": 2}, {"batch_size": 70})
    """Where `export_onnx` validates: two NPCs, and a batch that holds NPCs at every fill of the state."""
    QUANTIZED_OPERATORS = ("MatMul", "Gemm")
    FLOAT_MODULES = ()
    SLIM = True
    """The traced step holds three times more shape arithmetic than arithmetic: onnxslim folds it (`export_onnx`)."""

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        names = ("observations", "past_ticks", "past_mask", *flat_cache_names("past_key_values", self._layers))
        return {name: {0: "batch_size"} for name in names}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        names = ("state_logits", "move_logits", "present_ticks", "present_mask")
        return {name: {0: "batch_size"} for name in (*names, *flat_cache_names("present", self._layers))}

    @property
    def _layers(self) -> int:
        return self._normalized_config.config.num_layers

    def generate_dummy_inputs(self, framework: str = "pt", **input_shapes):
        """The step's arguments by name (`past_key_values` as one tuple of `(key, value)` per layer)."""
        generator = self.DUMMY_INPUT_GENERATOR_CLASSES[0]("", self._normalized_config, **input_shapes)
        names = UrukNPCStepDummyInputGenerator.SUPPORTED_INPUT_NAMES
        return {name: generator.generate(name, framework=framework) for name in names}

    @classmethod
    def flatten_output_collection_property(cls, name: str, field) -> dict:
        """A cache's `(key, value)` per layer under its ONNX names."""
        return dict(zip(flat_cache_names(name, len(field)), [tensor for layer in field for tensor in layer]))

    def patch_model_for_export(self, model, model_kwargs: dict | None = None) -> UrukNPCStepPatcher:
        return UrukNPCStepPatcher(self, model, model_kwargs=model_kwargs)

    def parity(self, model, onnx_path, inputs: dict) -> tuple[str, float]:
        """The max absolute difference of the logits and the next state between `step` and ONNX Runtime."""
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        feed = step_feed(**inputs)
        found = dict(zip(self.outputs, session.run(list(self.outputs), feed)))
        with torch.inference_mode():
            reference = model.step(**inputs)
        expected = step_outputs_by_name(reference)
        differences = [(torch.from_numpy(found[name]) - value).abs().max() for name, value in expected.items()]
        return "step_max_difference", float(max(differences))
