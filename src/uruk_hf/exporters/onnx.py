"""ONNX export of the renderers through Optimum's exporter, validated with its `validate_model_outputs`.

Optimum's high-level `onnx_export_from_model` infers the library from a model's module and refuses ours (DESIGN
§7); its lower level works for custom models: a family's `OnnxConfig` (its registry entry's `onnx_config`, e.g.
`uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer.UrukRendererOnnxConfig`) names the inputs and outputs with
dynamic batch, height and width and brings a dummy input generator, and `optimum.exporters.onnx.export` traces the
model with it. `export_onnx` validates the file at two resolutions (one not a multiple of the network stride) with
Optimum, and checks parity on tone-mapped frames (linear HDR is unbounded, so an absolute tolerance on it says
little). The exported folder holds `model.onnx`, `config.json` and `preprocessor_config.json`: what
`uruk_hf.UrukORTRenderer.from_pretrained` loads.
"""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from optimum.exporters.onnx import export, validate_model_outputs
from optimum.utils import NormalizedConfig

from ..catalog import family_for_model_type, resolve
from ..file_utils import atomic_path
from ..tonemap import tonemap

__all__ = ["DEFAULT_OPSET", "export_onnx", "quantize_onnx", "tonemapped_parity"]

DEFAULT_OPSET = 17
VALIDATION_SHAPES = ((64, 64), (67, 93))
"""Resolutions `export_onnx` validates at: a multiple of every trunk's stride, and one that is not."""
QUANTIZED_OPERATORS = ("Conv", "ConvTranspose")
"""Operators `quantize_onnx` quantizes to int8."""


def tonemapped_parity(model, onnx_path: str | Path, pixel_values: torch.Tensor) -> float:
    """Max absolute difference between the eager and the ONNX Runtime frame after the project's tone map."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (frame, *_) = session.run(["frame"], {"pixel_values": pixel_values.numpy()})
    with torch.inference_mode():
        reference = model(pixel_values).frame
    return float((tonemap(torch.from_numpy(frame)) - tonemap(reference)).abs().max())


def export_onnx(
    model_dir: str | Path,
    output: str | Path,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    onnx_config_class: type | None = None,
) -> dict:
    """Exports the Hub-format model in `model_dir` to `output/model.onnx` (written atomically, with the model's
    `config.json` and `preprocessor_config.json` beside it), validates it and returns the record (also
    `output/onnx_export.json`): opset, inputs, outputs, and per validation resolution Optimum's verdict and the
    tone-mapped max difference. `onnx_config_class` is the model's Optimum `OnnxConfig` (default: its family's,
    found in the registry by the config's `model_type`).

    Raises:
        FileNotFoundError: `model_dir` is not a folder.
        ValueError: its config or weights cannot be loaded (the message names the file).
        optimum.exporters.error_utils.AtolError / ShapeError / OutputMatchError: Optimum's validation failed.
        ValueError: the tone-mapped frames differ by more than `atol`.
    """
    from transformers import AutoModel

    from ..modeling_utils import check_model_source

    model_dir, output = Path(model_dir), Path(output)
    check_model_source(model_dir)
    try:
        model = AutoModel.from_pretrained(model_dir).eval()
    except ValueError as error:
        if str(model_dir) in str(error):
            raise
        raise ValueError(f"{model_dir / 'config.json'}: {error}") from error
    if onnx_config_class is None:
        family = family_for_model_type(model.config.model_type)
        if family.onnx_config is None:
            raise ValueError(f"Family {family.name!r} ({model.config.model_type}) has no ONNX export.")
        onnx_config_class = resolve(family.onnx_config)
    onnx_config = onnx_config_class(model.config, task="feature-extraction")
    dummy_inputs = onnx_config.DUMMY_INPUT_GENERATOR_CLASSES[0]
    output.mkdir(parents=True, exist_ok=True)
    record = {"opset": opset, "source": str(model_dir), "model_type": model.config.model_type, "validation": []}
    with tempfile.TemporaryDirectory(dir=output) as scratch:
        traced = Path(scratch) / "model.onnx"
        inputs, outputs = export(model, onnx_config, traced, opset=opset)
        record["inputs"], record["outputs"] = inputs, outputs
        for height, width in VALIDATION_SHAPES:
            shapes = {"batch_size": 2, "height": height, "width": width}
            validate_model_outputs(
                onnx_config, model, traced, outputs, atol=atol, input_shapes=shapes, use_subprocess=False
            )
            pixel_values = dummy_inputs("", NormalizedConfig(model.config), **shapes).generate("pixel_values")
            difference = tonemapped_parity(model, traced, pixel_values)
            if difference > atol:
                raise ValueError(f"ONNX tone-mapped frame differs by {difference:.3g} at {height}x{width} (> {atol}).")
            record["validation"].append(
                {"height": height, "width": width, "optimum_atol": atol, "tonemapped_max_difference": difference}
            )
        with atomic_path(output / "model.onnx") as temporary:
            shutil.copyfile(traced, temporary)
    for name in ("config.json", "preprocessor_config.json"):
        if (model_dir / name).is_file() and model_dir.resolve() != output.resolve():
            with atomic_path(output / name) as temporary:
                shutil.copyfile(model_dir / name, temporary)
    with atomic_path(output / "onnx_export.json") as temporary:
        temporary.write_text(json.dumps(record, indent=2, default=lambda value: np.asarray(value).tolist()))
    return record


def quantize_onnx(onnx_dir: str | Path, calibration: list[np.ndarray], output_name: str = "model.int8.onnx") -> dict:
    """Static int8 quantization (QDQ, per-channel symmetric weights, min-max calibrated activations) of
    `onnx_dir/model.onnx` through Optimum's `ORTQuantizer`; writes `onnx_dir/<output_name>` atomically and returns
    the record. Static rather than dynamic: ONNX Runtime's dynamic mode quantizes activations per call and leaves
    most convolutions in float, while a renderer is almost all convolutions with stable activation ranges. Only
    `QUANTIZED_OPERATORS` are quantized (the trunk's and the frame head's convolutions); the material head stays in
    float."""
    import onnx
    from datasets import Dataset
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoCalibrationConfig, AutoQuantizationConfig

    onnx_dir = Path(onnx_dir)
    quantizer = ORTQuantizer.from_pretrained(onnx_dir, file_name="model.onnx")
    # Only the convolutions: the frame head's filtering of the HDR cheap render (Pad, Slice, Mul, Add on linear
    # radiance) stays in float, where 8 bits over [0, max radiance] would erase every dark tone.
    # The material head classifies per-surface statistics (log-variances, shares of the frame) with a few 1x1
    # convolutions: a negligible cost, and 8-bit activations there cost up to 5 points of mIoU.
    graph = onnx.load(onnx_dir / "model.onnx", load_external_data=False).graph
    excluded = [node.name for node in graph.node if node.name.startswith("/material_head/")]
    config = AutoQuantizationConfig.avx512_vnni(
        is_static=True, per_channel=True, operators_to_quantize=list(QUANTIZED_OPERATORS), nodes_to_exclude=excluded
    )
    samples = Dataset.from_dict({"pixel_values": [array[0] for array in calibration]}).with_format("numpy")
    with tempfile.TemporaryDirectory(dir=onnx_dir) as scratch:
        ranges = quantizer.fit(
            dataset=samples,
            calibration_config=AutoCalibrationConfig.minmax(samples),
            onnx_augmented_model_name=Path(scratch) / "augmented.onnx",
            operators_to_quantize=config.operators_to_quantize,
        )
        written = quantizer.quantize(config, scratch, file_suffix="int8", calibration_tensors_range=ranges)
        with atomic_path(onnx_dir / output_name) as temporary:
            shutil.copyfile(Path(written) / "model_int8.onnx", temporary)
    return {
        "file": output_name,
        "mode": "static",
        "format": str(config.format),
        "per_channel": config.per_channel,
        "calibration_frames": len(calibration),
        "operators": list(config.operators_to_quantize),
        "float_modules": ["material_head"] if excluded else [],
    }
