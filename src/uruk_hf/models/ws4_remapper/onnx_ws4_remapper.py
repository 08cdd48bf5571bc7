"""The Optimum ONNX interface of the WS4 world remapper: `pixel_values` and `condition` in, `frame` out; batch,
height and width dynamic."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.utils import DummyInputGenerator, NormalizedConfig

__all__ = ["UrukWS4RemapperOnnxConfig"]


class UrukRemapperDummyInputGenerator(DummyInputGenerator):
    """Packed buffers in the range of the processor's normalized buffers, and conditions with one-hot presets and a
    unit sun direction (a fixed seed, so validation is reproducible)."""

    SUPPORTED_INPUT_NAMES = ("pixel_values", "condition")

    def __init__(self, task: str, normalized_config, batch_size: int = 1, height: int = 64, width: int = 64, **_):
        self.task, self.config = task, normalized_config.config
        self.batch_size, self.height, self.width = batch_size, height, width

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        generator = torch.Generator().manual_seed(0)
        if input_name == "pixel_values":
            shape = (self.batch_size, self.config.num_channels, self.height, self.width)
            return torch.rand(shape, generator=generator) * 2.0 - 0.5
        presets = len(self.config.lighting_presets)
        condition = torch.zeros(self.batch_size, self.config.condition_size)
        condition[:, 0] = 1.0
        condition[:, presets + 1] = 1.0
        direction = torch.randn(self.batch_size, 3, generator=generator)
        condition[:, 2 * presets : 2 * presets + 3] = direction / direction.norm(dim=1, keepdim=True)
        condition[:, -1] = 4.0
        return condition


class UrukWS4RemapperOnnxConfig(OnnxConfig):
    """The ONNX interface of the WS4 world remapper."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukRemapperDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    VALIDATION_SHAPES = (
        {"batch_size": 2, "height": 64, "width": 64},
        {"batch_size": 2, "height": 67, "width": 93},
    )
    """Where `export_onnx` validates: a multiple of every trunk's stride, and a size that is not."""
    QUANTIZED_OPERATORS = ("Conv", "ConvTranspose")
    FLOAT_MODULES = ()

    def parity(self, model, onnx_path, inputs: dict) -> tuple[str, float]:
        """The max absolute difference between the eager and the ONNX Runtime frame after the project's tone map."""
        import onnxruntime

        from ...tonemap import tonemap

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        (frame,) = session.run(["frame"], {name: value.numpy() for name, value in inputs.items()})
        with torch.inference_mode():
            reference = model(**inputs).frame
        return "tonemapped_max_difference", float((tonemap(torch.from_numpy(frame)) - tonemap(reference)).abs().max())

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {"pixel_values": {0: "batch_size", 2: "height", 3: "width"}, "condition": {0: "batch_size"}}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {"frame": {0: "batch_size", 2: "height", 3: "width"}}
