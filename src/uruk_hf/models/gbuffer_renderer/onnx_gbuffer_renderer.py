"""The Optimum ONNX interface of the G-buffer renderers: `pixel_values` in; `frame` (and `material_logits` for
models with a material head) out; batch, height and width dynamic; and the dummy G-buffers Optimum traces and
validates with."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.utils import DummyInputGenerator, NormalizedConfig

__all__ = ["UrukGBufferDummyInputGenerator", "UrukRendererOnnxConfig"]


class UrukGBufferDummyInputGenerator(DummyInputGenerator):
    """Packed G-buffers for tracing and validation: `(batch_size, num_channels, height, width)` values in the range
    of the processor's normalized buffers (a fixed seed, so validation is reproducible)."""

    SUPPORTED_INPUT_NAMES = ("pixel_values",)

    def __init__(self, task: str, normalized_config, batch_size: int = 1, height: int = 64, width: int = 64, **_):
        self.task = task
        self.num_channels = normalized_config.config.num_channels
        self.batch_size, self.height, self.width = batch_size, height, width

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        generator = torch.Generator().manual_seed(0)
        shape = (self.batch_size, self.num_channels, self.height, self.width)
        return torch.rand(shape, generator=generator) * 2.0 - 0.5


class UrukRendererOnnxConfig(OnnxConfig):
    """The ONNX interface of every renderer: `pixel_values` in; `frame` (linear HDR) and, for models with a material
    head, `material_logits` out; batch, height and width dynamic."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukGBufferDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17  # what `uruk_hf.exporters.onnx.export_onnx` exports at by default
    VALIDATION_SHAPES = (
        {"batch_size": 2, "height": 64, "width": 64},
        {"batch_size": 2, "height": 67, "width": 93},
    )
    """Where `export_onnx` validates: a multiple of every trunk's stride, and a size that is not."""
    QUANTIZED_OPERATORS = ("Conv", "ConvTranspose")
    FLOAT_MODULES = ("material_head",)

    def parity(self, model, onnx_path, pixel_values: torch.Tensor) -> tuple[str, float]:
        """The max absolute difference between the eager and the ONNX Runtime frame after the project's tone map
        (linear HDR is unbounded: a tolerance on it says little)."""
        import onnxruntime

        from ...tonemap import tonemap

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        (frame, *_) = session.run(["frame"], {"pixel_values": pixel_values.numpy()})
        with torch.inference_mode():
            reference = model(pixel_values).frame
        return "tonemapped_max_difference", float((tonemap(torch.from_numpy(frame)) - tonemap(reference)).abs().max())

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {"pixel_values": {0: "batch_size", 2: "height", 3: "width"}}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        axes = {0: "batch_size", 2: "height", 3: "width"}
        outputs = {"frame": dict(axes)}
        if self._config.use_material_head:
            outputs["material_logits"] = dict(axes)
        return outputs
