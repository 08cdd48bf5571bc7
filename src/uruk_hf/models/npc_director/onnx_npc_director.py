"""The Optimum ONNX interface of NPC Director: `observations` in, `state_logits` and `move_logits` out, batch and
ticks dynamic (up to the window)."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.utils import DummyInputGenerator, NormalizedConfig

__all__ = ["UrukNPCDirectorOnnxConfig", "UrukObservationDummyInputGenerator"]


class UrukObservationDummyInputGenerator(DummyInputGenerator):
    """Observation windows for tracing and validation: `(batch_size, sequence_length, observation_size)` values in
    the range of the simulator's normalized features (a fixed seed, so validation is reproducible)."""

    SUPPORTED_INPUT_NAMES = ("observations",)

    def __init__(self, task: str, normalized_config, batch_size: int = 2, sequence_length: int | None = None, **_):
        self.task, self.config = task, normalized_config.config
        self.batch_size = batch_size
        self.sequence_length = sequence_length or self.config.window

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        generator = torch.Generator().manual_seed(0)
        shape = (self.batch_size, self.sequence_length, self.config.observation_size)
        return torch.rand(shape, generator=generator) * 2.0 - 1.0


class UrukNPCDirectorOnnxConfig(OnnxConfig):
    """NPC Director's ONNX interface (the whole window at once; the last tick's logits are the decision)."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukObservationDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    VALIDATION_SHAPES = ({"batch_size": 2, "sequence_length": 64}, {"batch_size": 3, "sequence_length": 17})
    """Where `export_onnx` validates: a full window, and a shorter history (the first ticks of an episode)."""
    QUANTIZED_OPERATORS = ("MatMul", "Gemm")
    FLOAT_MODULES = ()

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {"observations": {0: "batch_size", 1: "sequence_length"}}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {
            "state_logits": {0: "batch_size", 1: "sequence_length"},
            "move_logits": {0: "batch_size", 1: "sequence_length"},
        }

    def parity(self, model, onnx_path, observations: torch.Tensor) -> tuple[str, float]:
        """The max absolute difference of the state and move logits between eager and ONNX Runtime."""
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        states, moves = session.run(["state_logits", "move_logits"], {"observations": observations.numpy()})
        with torch.inference_mode():
            reference = model(observations)
        difference = max(
            float((torch.from_numpy(states) - reference.state_logits).abs().max()),
            float((torch.from_numpy(moves) - reference.move_logits).abs().max()),
        )
        return "logits_max_difference", difference
