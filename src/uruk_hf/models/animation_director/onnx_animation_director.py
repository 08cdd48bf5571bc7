"""The Optimum ONNX interface of Animation Director: `features` in (one frame per character), the next frame's
pose, root velocity, phase change, contact logits and blend weights out; batch dynamic."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.utils import DummyInputGenerator, NormalizedConfig

__all__ = ["UrukAnimationDirectorOnnxConfig", "UrukMotionDummyInputGenerator"]

OUTPUT_NAMES = ("pose", "root_velocity", "phase_change", "contact_logits", "blend_weights")


class UrukMotionDummyInputGenerator(DummyInputGenerator):
    """Input vectors for tracing and validation: `(batch_size, input_size)` (a fixed seed)."""

    SUPPORTED_INPUT_NAMES = ("features",)

    def __init__(self, task: str, normalized_config, batch_size: int = 2, **_):
        self.task, self.config, self.batch_size = task, normalized_config.config, batch_size

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        generator = torch.Generator().manual_seed(0)
        return torch.rand((self.batch_size, self.config.input_size), generator=generator) * 2.0 - 1.0


class UrukAnimationDirectorOnnxConfig(OnnxConfig):
    """Animation Director's ONNX interface."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukMotionDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    VALIDATION_SHAPES = ({"batch_size": 2}, {"batch_size": 37})
    QUANTIZED_OPERATORS = ("MatMul", "Gemm")
    FLOAT_MODULES = ()

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {"features": {0: "batch_size"}}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {name: {0: "batch_size"} for name in OUTPUT_NAMES}

    def parity(self, model, onnx_path, features: torch.Tensor) -> tuple[str, float]:
        """The max absolute difference of every output between eager and ONNX Runtime."""
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        results = session.run(list(OUTPUT_NAMES), {"features": features.numpy()})
        with torch.inference_mode():
            reference = model(features)
        difference = max(
            float((torch.from_numpy(value) - getattr(reference, name)).abs().max())
            for name, value in zip(OUTPUT_NAMES, results)
        )
        return "outputs_max_difference", difference
