"""ONNX export of every family through Optimum's exporter, validated with its `validate_model_outputs`.

Optimum's high-level `onnx_export_from_model` infers the library from a model's module and refuses ours (DESIGN
§7); its lower level works for custom models: a family's `OnnxConfig` (its registry entry's `onnx_config`, e.g.
`uruk_hf.models.gbuffer_renderer.onnx_gbuffer_renderer.UrukRendererOnnxConfig`) names the inputs and outputs with
their dynamic axes and brings a dummy input generator, and `optimum.exporters.onnx.export` traces the model with
it. A config with `SLIM = True` has the traced graph simplified by onnxslim before validation (decoders, whose
traced shape arithmetic outnumbers their matrix products). The config also says where `export_onnx` validates
(`VALIDATION_SHAPES`: for the renderers two resolutions, one not a multiple of the network stride), how parity
is judged (`parity`: for the renderers on tone-mapped frames, since linear HDR is unbounded and an absolute
tolerance on it says little) and which operators int8 quantization may touch (`QUANTIZED_OPERATORS`). The
exported folder holds `model.onnx`, `config.json` and `preprocessor_config.json` where the model has one: what
the family's ONNX Runtime class loads.
"""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from optimum.exporters.onnx import export, validate_model_outputs

from ..catalog import family_for_model_type, resolve
from ..file_utils import atomic_path

__all__ = ["DEFAULT_OPSET", "calibration_dataset", "export_onnx", "quantize_onnx"]

DEFAULT_OPSET = 17


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
    output.mkdir(parents=True, exist_ok=True)
    record = {"opset": opset, "source": str(model_dir), "model_type": model.config.model_type, "validation": []}
    with tempfile.TemporaryDirectory(dir=output) as scratch:
        traced = Path(scratch) / "model.onnx"
        inputs, outputs = export(model, onnx_config, traced, opset=opset)
        record["inputs"], record["outputs"] = inputs, outputs
        if getattr(onnx_config, "SLIM", False):
            record["slim"] = _slim(traced)
        for shapes in onnx_config.VALIDATION_SHAPES:
            validate_model_outputs(
                onnx_config, model, traced, outputs, atol=atol, input_shapes=shapes, use_subprocess=False
            )
            inputs = onnx_config.generate_dummy_inputs(framework="pt", **shapes)
            # `parity` takes the one input of single-input models, and the dict of inputs of the others.
            name, difference = onnx_config.parity(
                model, traced, inputs if len(inputs) > 1 else next(iter(inputs.values()))
            )
            if difference > atol:
                raise ValueError(f"ONNX {name} differs by {difference:.3g} at {shapes} (> {atol}).")
            record["validation"].append({**shapes, "optimum_atol": atol, "parity_metric": name, name: difference})
        with atomic_path(output / "model.onnx") as temporary:
            shutil.copyfile(traced, temporary)
    for name in ("config.json", "preprocessor_config.json"):
        if (model_dir / name).is_file() and model_dir.resolve() != output.resolve():
            with atomic_path(output / name) as temporary:
                shutil.copyfile(model_dir / name, temporary)
    with atomic_path(output / "onnx_export.json") as temporary:
        temporary.write_text(json.dumps(record, indent=2, default=lambda value: np.asarray(value).tolist()))
    return record


def _slim(path: Path) -> dict:
    """Folds the traced graph's shape arithmetic and constants with onnxslim (as `optimum-cli export onnx --slim`
    does), in place, before validation; returns the node counts before and after."""
    import onnx
    import onnxslim

    traced = onnx.load(path)
    before = len(traced.graph.node)
    slimmed = onnxslim.slim(traced)
    onnx.save(slimmed, path)
    return {"tool": f"onnxslim {onnxslim.__version__}", "nodes_before": before, "nodes_after": len(slimmed.graph.node)}


def calibration_dataset(columns: dict[str, list[np.ndarray]]):
    """The calibration samples `{input name: [one array per sample]}` as a numpy-formatted `datasets.Dataset` whose
    columns are fixed-shape Arrow tensors (`Array2D` ... `Array5D`, `Value` for scalars) where every sample of a
    column has one shape. Left to infer them, `datasets` stores an image as nested lists and rebuilds it element by
    element on every read: 0.72 s against 0.02 s per pass over 64 renderer inputs, and Optimum's calibration
    reads the set several times (`uruk publish build` of the four renderer families, three paired runs: median
    52.1 s -> 46.3 s, the same int8 files byte for byte). A column whose samples differ in shape or dtype is left to
    `datasets`."""
    from datasets import Array2D, Array3D, Array4D, Array5D, Dataset, Features, Sequence, Value

    kinds = {2: Array2D, 3: Array3D, 4: Array4D, 5: Array5D}
    arrays = {name: [np.asarray(sample) for sample in samples] for name, samples in columns.items()}
    features = {}
    for name, samples in arrays.items():
        shape, dtype = samples[0].shape, samples[0].dtype
        if len(shape) > 5 or any(sample.shape != shape or sample.dtype != dtype for sample in samples):
            return Dataset.from_dict(columns).with_format("numpy")
        if len(shape) == 0:
            features[name] = Value(str(dtype))
        elif len(shape) == 1:
            features[name] = Sequence(Value(str(dtype)), length=shape[0])
        else:
            features[name] = kinds[len(shape)](shape=shape, dtype=str(dtype))
    return Dataset.from_dict(arrays, features=Features(features)).with_format("numpy")


def quantize_onnx(
    onnx_dir: str | Path,
    calibration: list[np.ndarray] | None,
    output_name: str = "model.int8.onnx",
    operators: tuple[str, ...] = ("Conv", "ConvTranspose"),
    float_modules: tuple[str, ...] = ("material_head",),
) -> dict:
    """Static int8 quantization (QDQ, per-channel symmetric weights, min-max calibrated activations) of
    `onnx_dir/model.onnx` through Optimum's `ORTQuantizer`; writes `onnx_dir/<output_name>` atomically and returns
    the record. Only `operators` are quantized, and nothing under the modules `float_modules`; the family's
    `OnnxConfig` says which (`QUANTIZED_OPERATORS`, `FLOAT_MODULES`). `calibration` holds inputs of the model's
    first input (one batch each), or for models of several inputs dicts of every input by name; `None` asks for
    ONNX Runtime's dynamic int8 instead (weights per channel offline, activations scaled per call: the decoders,
    whose cache a static calibration would fix to one length).

    The renderers' choices: static rather than dynamic (ONNX Runtime's dynamic mode quantizes activations per call
    and leaves most convolutions in float, while a renderer is almost all convolutions with stable activation
    ranges); only convolutions (the frame head's filtering of the HDR cheap render stays in float, where 8 bits
    over [0, max radiance] would erase every dark tone); the material head in float (a negligible cost, and 8-bit
    activations there cost up to 5 points of mIoU)."""
    import onnx
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoCalibrationConfig, AutoQuantizationConfig

    onnx_dir = Path(onnx_dir)
    quantizer = ORTQuantizer.from_pretrained(onnx_dir, file_name="model.onnx")
    model = onnx.load(onnx_dir / "model.onnx", load_external_data=False)
    excluded = [
        node.name for node in model.graph.node if any(node.name.startswith(f"/{name}/") for name in float_modules)
    ]
    config = AutoQuantizationConfig.avx512_vnni(
        is_static=calibration is not None,
        per_channel=True,
        operators_to_quantize=list(operators),
        nodes_to_exclude=excluded,
    )
    record = {
        "file": output_name,
        "mode": "static" if config.is_static else "dynamic",
        "format": str(config.format),
        "per_channel": config.per_channel,
        "operators": list(config.operators_to_quantize),
        "float_modules": sorted({name for name in float_modules if any(f"/{name}/" in n for n in excluded)}),
    }
    with tempfile.TemporaryDirectory(dir=onnx_dir) as scratch:
        ranges = None
        if calibration is not None:
            if isinstance(calibration[0], dict):  # several inputs: one batch of each per entry
                columns = {name: [entry[name][0] for entry in calibration] for name in calibration[0]}
            else:
                columns = {model.graph.input[0].name: [array[0] for array in calibration]}
            samples = calibration_dataset(columns)
            ranges = quantizer.fit(
                dataset=samples,
                calibration_config=AutoCalibrationConfig.minmax(samples),
                onnx_augmented_model_name=Path(scratch) / "augmented.onnx",
                operators_to_quantize=config.operators_to_quantize,
            )
            record["calibration_frames"] = len(calibration)
        written = quantizer.quantize(config, scratch, file_suffix="int8", calibration_tensors_range=ranges)
        with atomic_path(onnx_dir / output_name) as temporary:
            shutil.copyfile(Path(written) / "model_int8.onnx", temporary)
    return record
