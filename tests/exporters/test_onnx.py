"""ONNX export through Optimum, int8 quantization and the ONNX Runtime class, at the tiny preset."""

import json

import numpy as np
import pytest
import torch

from uruk_hf import (
    UrukGBufferProcessor,
    UrukORTRenderer,
    UrukV2Ultra,
    UrukV2UltraConfig,
    UrukWS5CinematicConfig,
    UrukWS5CinematicRenderer,
)
from uruk_hf.tonemap import tonemap


def _trained_like(model):
    """Random non-identity weights: an identity-initialized renderer would hide export bugs in the trunk."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from uruk_hf.cli import main

    folder = tmp_path_factory.mktemp("v2_ultra")
    model = _trained_like(UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")))
    model.save_pretrained(folder)
    UrukGBufferProcessor.from_model_config(model.config).save_pretrained(folder)
    assert main(["export", "onnx", str(folder), "--output", str(folder)]) == 0
    return folder, model


def test_export_validates_at_two_resolutions_one_off_stride(exported):
    folder, model = exported
    record = json.loads((folder / "onnx_export.json").read_text())
    shapes = [(entry["height"], entry["width"]) for entry in record["validation"]]
    stride = model.unet.stride
    assert len(shapes) == 2 and any(h % stride or w % stride for h, w in shapes)
    assert record["outputs"] == ["frame", "material_logits"]
    assert all(entry["tonemapped_max_difference"] < 1e-4 for entry in record["validation"])


def test_ort_renderer_matches_eager_on_tonemapped_output(exported):
    folder, model = exported
    ort = UrukORTRenderer.from_pretrained(folder)
    pixel_values = torch.rand(2, model.config.num_channels, 37, 53)
    with torch.no_grad():
        eager = model(pixel_values)
    outputs = ort(pixel_values)
    assert outputs.frame.shape == eager.frame.shape and outputs.material_logits.shape == eager.material_logits.shape
    assert float((tonemap(outputs.frame) - tonemap(eager.frame)).abs().max()) < 1e-4
    assert torch.equal(outputs.material_logits.argmax(1), eager.material_logits.argmax(1))
    with pytest.raises(ValueError, match="expects 32 input channels"):
        ort(torch.rand(1, 19, 16, 16))


def test_ws5_exports_without_a_material_output(tmp_path):
    from uruk_hf.exporters.onnx import export_onnx

    _trained_like(UrukWS5CinematicRenderer(UrukWS5CinematicConfig.from_preset("tiny"))).save_pretrained(tmp_path)
    assert export_onnx(tmp_path, tmp_path)["outputs"] == ["frame"]
    assert UrukORTRenderer.from_pretrained(tmp_path)(torch.rand(1, 19, 24, 24)).material_logits is None


def test_ray_reconstruction_filter_exports(tmp_path):
    """The box-averaged tap grid (AveragePool without the padding) holds in ONNX Runtime at the image border."""
    from uruk_hf.catalog import model_entry
    from uruk_hf.exporters.onnx import export_onnx

    entry = model_entry("v2_ultra_ray_reconstruction")[1]
    model = _trained_like(entry.model_class(entry.config("tiny")))
    model.save_pretrained(tmp_path)
    export_onnx(tmp_path, tmp_path)
    pixel_values = torch.rand(1, model.config.num_channels, 29, 35)
    with torch.no_grad():
        eager = model(pixel_values).frame
    assert (
        float((tonemap(UrukORTRenderer.from_pretrained(tmp_path)(pixel_values).frame) - tonemap(eager)).abs().max())
        < 1e-4
    )


def test_int8_quantization_from_the_models_own_inputs(exported, tiny_dataset):
    from uruk_hf.exporters.onnx import quantize_onnx
    from uruk_hf.training.tasks.frame_reconstruction import FrameReconstructionTask

    folder, model = exported
    data, _ = tiny_dataset
    task = FrameReconstructionTask(model.config)
    calibration = task.calibration_inputs(model, task.dataset(data, "validation"), max_frames=4)
    history = model.config.buffer_slice("history")
    assert len(calibration) >= 2 and calibration[1][:, history].any()  # frame 2 carries the model's own history
    record = quantize_onnx(folder, calibration)
    assert record["mode"] == "static" and (folder / "model.int8.onnx").is_file()
    assert record["float_modules"] == ["material_head"]
    import onnx

    nodes = onnx.load(folder / "model.int8.onnx").graph.node
    assert any(node.op_type == "QuantizeLinear" for node in nodes)
    head = [node for node in nodes if node.name.startswith("/material_head/")]
    assert head and not any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in head)
    quantized = UrukORTRenderer.from_pretrained(folder, file_name="model.int8.onnx")
    pixel_values = torch.from_numpy(calibration[1])
    with torch.no_grad():
        reference = model(pixel_values)
    outputs = quantized(pixel_values)
    difference = (tonemap(outputs.frame) - tonemap(reference.frame)).abs().max()
    assert 0 < float(difference) < 0.2


def test_calibration_samples_are_stored_as_fixed_shape_tensors():
    from datasets import Array3D, Value

    from uruk_hf.exporters.onnx import calibration_dataset

    rng = np.random.default_rng(0)
    frames = [rng.random((5, 6, 7), dtype=np.float32) for _ in range(3)]
    steps = [np.float32(step) for step in range(3)]
    samples = calibration_dataset({"pixel_values": frames, "timestep": steps})
    assert samples.features["pixel_values"] == Array3D(shape=(5, 6, 7), dtype="float32")
    assert samples.features["timestep"] == Value("float32")
    for index, row in enumerate(samples):
        np.testing.assert_array_equal(row["pixel_values"], frames[index])
        assert row["timestep"] == steps[index]
    ragged = calibration_dataset({"pixel_values": [frames[0], frames[1][:, :4]]})
    assert not isinstance(ragged.features["pixel_values"], Array3D)
    np.testing.assert_array_equal(ragged[1]["pixel_values"], frames[1][:, :4])


def test_missing_onnx_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.onnx does not exist"):
        UrukORTRenderer.from_pretrained(tmp_path)
