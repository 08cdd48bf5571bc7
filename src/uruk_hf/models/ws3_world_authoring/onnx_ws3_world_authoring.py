"""The Optimum ONNX interface of the WS3 denoiser: one noise prediction for a batch of noisy maps, their timesteps
and knob vectors, and which rows take the null condition (the unconditional half of a guided batch). The sampler
(`UrukWorldMapPipeline`: diffusers' scheduler and classifier-free guidance) stays in Python around it, as
diffusers' ONNX pipelines keep theirs."""

import torch
from optimum.exporters.onnx import OnnxConfig
from optimum.exporters.onnx.model_patcher import ModelPatcher
from optimum.utils import DummyInputGenerator, NormalizedConfig

__all__ = ["UrukWS3WorldAuthoringOnnxConfig"]


class UrukWS3DenoiserDummyInputGenerator(DummyInputGenerator):
    """Noisy maps in the range of noised world maps, timesteps across the training schedule, knobs in [0, 1] and
    every other row unconditional (a fixed seed, so validation is reproducible)."""

    SUPPORTED_INPUT_NAMES = ("sample", "timestep", "knobs", "drop_condition")

    def __init__(self, task: str, normalized_config, batch_size: int = 2, **_):
        self.task, self.config = task, normalized_config.config
        self.batch_size = batch_size

    def generate(self, input_name: str, framework: str = "pt", int_dtype: str = "int64", float_dtype: str = "fp32"):
        generator = torch.Generator().manual_seed(0)
        config, batch = self.config, self.batch_size
        if input_name == "sample":
            value = torch.randn((batch, config.map_channels, config.map_size, config.map_size), generator=generator)
        elif input_name == "timestep":
            value = torch.randint(0, config.num_train_timesteps, (batch,), generator=generator)
        elif input_name == "knobs":
            value = torch.rand((batch, config.num_knobs), generator=generator)
        else:
            value = torch.arange(batch) % 2 == 1
        return value.numpy() if framework == "np" else value


class UrukWS3DenoiserPatcher(ModelPatcher):
    """Exports `forward` with every input given by name and its prediction under the ONNX name `prediction` (an
    ONNX output may not share the input `sample`'s name)."""

    def __init__(self, config: OnnxConfig, model, model_kwargs: dict | None = None):
        super().__init__(config, model, model_kwargs)
        forward = self.orig_forward

        def denoise(sample, timestep, knobs, drop_condition):
            return {"prediction": forward(sample, timestep, knobs=knobs, drop_condition=drop_condition).sample}

        self.patched_forward = denoise


class UrukWS3WorldAuthoringOnnxConfig(OnnxConfig):
    """The WS3 denoiser's ONNX interface: `sample` `(batch, map_channels, map_size, map_size)`, `timestep`
    `(batch,)` int64, `knobs` `(batch, num_knobs)` and `drop_condition` `(batch,)` bool in; `prediction` (the
    noise or sample the config's `prediction_type` names) out. The batch is dynamic, the map size the config's."""

    NORMALIZED_CONFIG_CLASS = NormalizedConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (UrukWS3DenoiserDummyInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 17
    VALIDATION_SHAPES = ({"batch_size": 2}, {"batch_size": 5})
    """Where `export_onnx` validates: a guided pair, and an odd batch."""
    QUANTIZED_OPERATORS = ("Conv",)
    FLOAT_MODULES = ("unet/conv_out",)
    """The last convolution, which writes the prediction the sampler subtracts, stays in float."""
    SLIM = False

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {name: {0: "batch_size"} for name in UrukWS3DenoiserDummyInputGenerator.SUPPORTED_INPUT_NAMES}

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {"prediction": {0: "batch_size"}}

    def generate_dummy_inputs(self, framework: str = "pt", **input_shapes):
        generator = self.DUMMY_INPUT_GENERATOR_CLASSES[0]("", self._normalized_config, **input_shapes)
        names = UrukWS3DenoiserDummyInputGenerator.SUPPORTED_INPUT_NAMES
        return {name: generator.generate(name, framework=framework) for name in names}

    def patch_model_for_export(self, model, model_kwargs: dict | None = None) -> UrukWS3DenoiserPatcher:
        return UrukWS3DenoiserPatcher(self, model, model_kwargs=model_kwargs)

    def parity(self, model, onnx_path, inputs: dict) -> tuple[str, float]:
        """The max absolute difference of the prediction between PyTorch and ONNX Runtime on `inputs`."""
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        (prediction,) = session.run(["prediction"], {name: value.numpy() for name, value in inputs.items()})
        with torch.inference_mode():
            reference = model(
                inputs["sample"], inputs["timestep"], knobs=inputs["knobs"], drop_condition=inputs["drop_condition"]
            ).sample
        return "prediction_max_difference", float((torch.from_numpy(prediction) - reference).abs().max())
