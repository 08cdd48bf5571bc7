import numpy as np
import pytest

from uruk_hf import UrukGBufferProcessor
from uruk_hf.data.rendering.exr import read_exr_gbuffer, write_exr_gbuffer
from uruk_hf.data.rendering.synthetic import synthetic_gbuffer
from uruk_hf.schema import WS5_LAYOUT


def test_engine_exr_round_trip_into_the_processor(tmp_path):
    """An engine-style EXR (its own layer names) read with a layer map feeds the processor unchanged."""
    buffers = synthetic_gbuffer(12, 16, seed=2)
    engine_names = {entry["name"]: f"Engine{entry['name'].title()}" for entry in WS5_LAYOUT}
    path = write_exr_gbuffer(tmp_path / "frame.exr", {engine_names[n]: buffers[n] for n in engine_names})
    read = read_exr_gbuffer(path, engine_names)
    for name in engine_names:
        np.testing.assert_array_equal(read[name], buffers[name])
    processor = UrukGBufferProcessor(input_buffers=WS5_LAYOUT)
    expected = processor({name: buffers[name] for name in engine_names})["pixel_values"]
    assert np.array_equal(processor(read)["pixel_values"], expected)
    explicit = read_exr_gbuffer(path, {"normal": ["EngineNormal.R", "EngineNormal.G", "EngineNormal.B"]})
    np.testing.assert_array_equal(explicit["normal"], buffers["normal"])


def test_missing_layer_and_wrong_channels_are_named(tmp_path):
    buffers = synthetic_gbuffer(4, 4)
    path = write_exr_gbuffer(tmp_path / "frame.exr", {"albedo": buffers["albedo"], "depth": buffers["depth"]})
    with pytest.raises(ValueError, match="buffer 'normal' maps to \\['Normal'\\], which the file lacks; it has"):
        read_exr_gbuffer(path, {"normal": "Normal"})
    with pytest.raises(ValueError, match="buffer 'normal' needs 3 channels"):
        read_exr_gbuffer(path, {"normal": "depth"})
    with pytest.raises(FileNotFoundError):
        read_exr_gbuffer(tmp_path / "absent.exr", {"albedo": "albedo"})
