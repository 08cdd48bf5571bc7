import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor

from uruk_hf import UrukGBufferProcessor, UrukV2Ultra, UrukV2UltraConfig, UrukWS5CinematicConfig
from uruk_hf.data.rendering.synthetic import synthetic_gbuffer
from uruk_hf.schema import V2_LAYOUT, WS5_LAYOUT


@pytest.fixture(scope="module")
def raw():
    buffers = synthetic_gbuffer(24, 40, seed=1)
    return {entry["name"]: buffers[entry["name"]] for entry in V2_LAYOUT}


def test_synthetic_gbuffer_has_every_schema_buffer():
    from uruk_hf.schema import BUFFER_SPECS

    buffers = synthetic_gbuffer(16, 16)
    assert set(buffers) == {*BUFFER_SPECS, "material_label"}
    for name, spec in BUFFER_SPECS.items():
        assert buffers[name].shape == (16, 16, spec.channels)


def test_packs_in_layout_order_with_documented_transforms(raw):
    pixel_values = UrukGBufferProcessor()(raw)["pixel_values"]
    config = UrukV2UltraConfig()
    assert pixel_values.shape == (1, 32, 24, 40) and pixel_values.dtype == torch.float32

    def channels(name):
        return pixel_values[0, config.buffer_slice(name)].permute(1, 2, 0).numpy()

    np.testing.assert_allclose(channels("albedo"), raw["albedo"])
    np.testing.assert_allclose(channels("direct"), np.log1p(raw["direct"]), rtol=1e-6)
    np.testing.assert_allclose(channels("depth"), np.log1p(raw["depth"]), rtol=1e-6)
    position = raw["position"]
    np.testing.assert_allclose(channels("position"), np.sign(position) * np.log1p(np.abs(position)), rtol=1e-6)
    np.testing.assert_allclose(channels("material_id"), raw["material_id"] / 255.0, rtol=1e-6)


def test_hwc_chw_batched_and_float16_agree(raw):
    processor = UrukGBufferProcessor()
    expected = processor(raw)["pixel_values"]
    chw = {name: np.moveaxis(value, -1, 0) for name, value in raw.items()}
    torch.testing.assert_close(processor(chw)["pixel_values"], expected)
    batched = {name: torch.from_numpy(np.stack([value, value])) for name, value in raw.items()}
    assert torch.equal(processor(batched)["pixel_values"], torch.cat([expected, expected]))
    half = {name: value.astype(np.float16) for name, value in raw.items()}
    torch.testing.assert_close(processor(half)["pixel_values"], expected, atol=2e-2, rtol=2e-3)
    flat = {name: (value[..., 0] if value.shape[-1] == 1 else value) for name, value in raw.items()}
    assert torch.equal(processor(flat)["pixel_values"], expected)
    assert isinstance(processor(raw, return_tensors="np")["pixel_values"], np.ndarray)


def test_history_defaults_to_zeros_on_a_first_frame(raw):
    processor = UrukGBufferProcessor()
    without = {name: value for name, value in raw.items() if name not in ("history", "history_valid")}
    torch.testing.assert_close(processor(without)["pixel_values"], processor(raw)["pixel_values"])


def test_processor_feeds_the_model(raw):
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()
    processor = UrukGBufferProcessor.from_model_config(model.config)
    with torch.no_grad():
        outputs = model(**processor(raw))
    images = processor.postprocess(outputs.frame, outputs.material_logits, mask=torch.from_numpy(raw["mask"]))
    assert images[0]["frame"].size == (40, 24) and images[0]["frame"].mode == "RGB"
    material = np.asarray(images[0]["material_map"])
    assert material.shape == (24, 40, 3)
    assert (material[raw["mask"][..., 0] == 0] == 0).all()


def test_postprocess_uses_the_project_tone_map():
    frame = torch.tensor([0.0, 1.0, 1e6]).reshape(1, 3, 1, 1)
    pixel = np.asarray(UrukGBufferProcessor().postprocess(frame)[0]["frame"])[0, 0]
    # 1 -> Reinhard 0.5 -> sRGB 0.7354; 1e6 -> ~1.0
    assert pixel.tolist() == [0, 188, 255]


def test_save_load_and_auto_image_processor(tmp_path):
    processor = UrukGBufferProcessor(input_buffers=WS5_LAYOUT, buffer_transforms={"ao": "log1p"})
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    for loaded in (UrukGBufferProcessor.from_pretrained(tmp_path), AutoImageProcessor.from_pretrained(tmp_path)):
        assert type(loaded) is UrukGBufferProcessor
        assert loaded.input_buffers == WS5_LAYOUT and loaded.transform_of("ao") == "log1p"
        assert loaded.num_channels == UrukWS5CinematicConfig().num_channels


def _with(raw, name, value):
    changed = dict(raw)
    changed[name] = value
    return changed


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda raw: {k: v for k, v in raw.items() if k != "normal"}, r"missing \['normal'\]"),
        (lambda raw: _with(raw, "ground_truth", raw["direct"]), r"unexpected \['ground_truth'\]"),
        (lambda raw: _with(raw, "normal", raw["normal"][..., :2]), "'normal' must have 3 channels"),
        (lambda raw: _with(raw, "albedo", raw["albedo"][:10]), "'albedo' is \\(10, 40\\) pixels"),
        (lambda raw: _with(raw, "depth", np.full((24, 40, 1), np.nan, np.float32)), "'depth' holds 960 NaN/Inf"),
        (lambda raw: _with(raw, "direct", -raw["direct"] - 1), "'direct' has negative values"),
        (lambda raw: _with(raw, "albedo", raw["albedo"].astype(np.int32)), "'albedo' has dtype torch.int32"),
        (lambda raw: _with(raw, "material_id", raw["material_id"] + 0.5), "not integer ids in 0..255"),
        (lambda raw: _with(raw, "material_id", raw["material_id"] + 300), "not integer ids in 0..255"),
        (lambda raw: _with(raw, "albedo", raw["albedo"].tolist()), "'albedo' must be a numpy array"),
        (
            lambda raw: _with(raw, "uv", raw["uv"][None]),
            "'albedo' has shape \\(24, 40, 3\\).*another buffer is batched",
        ),
    ],
)
def test_bad_input_is_named(raw, change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        UrukGBufferProcessor()(change(raw))


def test_integer_material_ids_and_ambiguous_shapes():
    processor = UrukGBufferProcessor(
        input_buffers=[{"name": "albedo", "channels": 3}, {"name": "material_id", "channels": 1}]
    )
    ids = np.arange(9, dtype=np.int64).reshape(3, 3)
    packed = processor({"albedo": np.zeros((3, 3, 3), np.float32), "material_id": ids}, data_format="channels_last")
    torch.testing.assert_close(packed["pixel_values"][0, 3], torch.from_numpy(ids / 255.0).float())
    with pytest.raises(ValueError, match="ambiguous; pass data_format"):
        processor({"albedo": np.zeros((3, 3, 3), np.float32), "material_id": ids})
    with pytest.raises(TypeError, match="dict of named arrays"):
        processor([1, 2])
    with pytest.raises(ValueError, match="Unknown buffer_transforms"):
        UrukGBufferProcessor(buffer_transforms={"albedo": "gamma"})
