import pytest
import torch

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.schema import RAY_RECONSTRUCTION_LAYOUT, V2_LAYOUT

from .test_modeling_common import RendererModelTesterMixin


def one_sample_per_pixel_model(**fields):
    """`(config, model, inputs, cheap)`: an untrained tiny V2-Ultra on the ray-reconstruction layout (`fields` set
    too), random `(1, 32, 21, 30)` inputs and their decoded 1-spp render."""
    config = UrukV2UltraConfig.from_preset(
        "tiny", input_buffers=RAY_RECONSTRUCTION_LAYOUT, cheap_render_buffer="path_1spp", **fields
    )
    inputs = torch.rand(1, config.num_channels, 21, 30, generator=torch.Generator().manual_seed(0))
    return config, UrukV2Ultra(config).eval(), inputs, torch.expm1(inputs[:, config.buffer_slice("path_1spp")])


class TestUrukV2Ultra(RendererModelTesterMixin):
    model_class = UrukV2Ultra
    config_class = UrukV2UltraConfig
    roles = ("teacher", "student")

    def test_defaults_are_the_32_channel_student_with_8_materials(self):
        config = UrukV2UltraConfig()
        assert config.role == "student" and config.num_channels == 32
        assert [e["name"] for e in config.input_buffers] == [e["name"] for e in V2_LAYOUT]
        assert config.num_labels == 8 and config.label2id["metal"] == 0

    def test_ray_reconstruction_layout_works_unchanged(self):
        config, model, inputs, cheap = one_sample_per_pixel_model()
        assert config.num_channels == 32
        with torch.no_grad():
            frame = model(inputs).frame
        assert (frame - cheap).abs().max() < 0.06

    def test_dilated_frame_filter_reaches_far_and_starts_at_the_cheap_render(self):
        _, model, inputs, cheap = one_sample_per_pixel_model(frame_kernel_dilations=[1, 3])
        head = model.frame_head
        assert len(head.offsets) == 50 and head.radius == 7 and (-6, 6) in head.offsets
        with torch.no_grad():
            assert (model(inputs).frame - cheap).abs().max() < 0.06
            # All weight on the tap 6 pixels to the right: the frame is the cheap render's 3x3 box average there.
            head.projection.bias[: len(head.offsets)] = -30.0
            head.projection.bias[head.offsets.index((0, 6))] = 30.0
            head.projection.bias[len(head.offsets) :] = -30.0
            head.projection.weight.zero_()
            frame = model(inputs).frame
        box = torch.nn.functional.avg_pool2d(cheap, 3, stride=1)  # box[y, x]: the 3x3 mean centred at (y+1, x+1)
        torch.testing.assert_close(frame[..., 1:-1, :-7], box[..., 5:], atol=1e-4, rtol=1e-4)
        for bad in ({"frame_kernel_size": 4}, {"frame_kernel_dilations": [0]}, {"frame_kernel_dilations": [1, 2]}):
            with pytest.raises(ValueError, match="frame_kernel"):
                UrukV2UltraConfig.from_preset("tiny", **bad)

    def test_surface_taps_average_the_pixels_surface_within_its_cell(self):
        from uruk_hf.modules.pooling import cell_segment_means
        from uruk_hf.schema import MATERIAL_ID_SLOTS

        config, model, inputs, cheap = one_sample_per_pixel_model(frame_surface_cells=[4, 16])
        head = model.frame_head
        assert head.num_taps == 27
        segment_ids = torch.randint(1, 4, (1, 1, 21, 30), generator=torch.Generator().manual_seed(1))
        inputs[:, config.buffer_slice("material_id")] = segment_ids / (MATERIAL_ID_SLOTS - 1)
        inputs[:, config.buffer_slice("albedo"), :, :4] = 0.0  # black: averaged as radiance, not divided by 0
        albedo = inputs[:, config.buffer_slice("albedo")].clamp_min(0.05)
        with torch.no_grad():
            assert (model(inputs).frame - cheap).abs().max() < 0.06  # still starts at the cheap render
            # All weight on the 4-pixel cells' tap, no shading: the surface's mean within the cell, remodulated.
            head.projection.weight.zero_()
            head.projection.bias.fill_(-30.0)
            head.projection.bias[len(head.offsets)] = 30.0
            frame = model(inputs).frame
        expected = cell_segment_means(cheap / albedo, segment_ids, 4, MATERIAL_ID_SLOTS) * albedo
        torch.testing.assert_close(frame, expected, atol=1e-4, rtol=1e-4)
        with pytest.raises(ValueError, match="frame_surface_cells must be cell sizes"):
            UrukV2UltraConfig.from_preset("tiny", frame_surface_cells=[0])
        without_ids = [entry for entry in V2_LAYOUT if entry["name"] != "material_id"]
        with pytest.raises(ValueError, match="material_segment_buffer='material_id' is not in input_buffers.*"
                           "frame_surface_cells pool over its surfaces"):  # fmt: skip
            UrukV2UltraConfig.from_preset(
                "tiny", input_buffers=without_ids, use_material_head=False, frame_surface_cells=[4]
            )

    def test_temporal_blend_takes_the_reprojected_history_only_where_it_is_valid(self):
        config = UrukV2UltraConfig.from_preset("tiny", temporal_blend=True)
        model = UrukV2Ultra(config).eval()
        inputs = torch.rand(1, 32, 12, 12)
        valid = config.buffer_slice("history_valid")
        inputs[:, valid] = 0.0
        inputs[:, valid, :, :5] = 1.0  # the left five columns see the same surface in the previous frame
        history = torch.expm1(inputs[:, config.buffer_slice("history")])
        blend = model.frame_head.num_taps + 3  # after the taps and the 3 shading channels
        with torch.no_grad():
            starting = model(inputs).frame
            model.frame_head.projection.weight[blend].zero_()
            model.frame_head.projection.bias[blend] = -30.0
            current = model(inputs).frame
            model.frame_head.projection.bias[blend] = 30.0
            blended = model(inputs).frame
        # It starts with about 2% of the history (sigmoid(-4)) where valid, none elsewhere.
        assert 0 < (starting - current)[..., :5].abs().max() < 0.05 * (history - current)[..., :5].abs().max()
        torch.testing.assert_close(starting[..., 5:], current[..., 5:])
        torch.testing.assert_close(blended[..., :5], history[..., :5])
        torch.testing.assert_close(blended[..., 5:], current[..., 5:])
        without_history = [entry for entry in V2_LAYOUT if entry["name"] != "history_valid"]
        with pytest.raises(ValueError, match="temporal_blend .* has no history_valid"):
            UrukV2UltraConfig.from_preset("tiny", temporal_blend=True, input_buffers=without_history)


def test_ray_reconstruction_entry_reads_one_sample_per_pixel():
    from uruk_hf.catalog import get_family, model_entry
    from uruk_hf.schema import BUFFER_SPECS

    family, entry = model_entry("v2_ultra_ray_reconstruction")
    assert family is get_family("v2_ultra_rr")
    config = entry.config("tiny")
    names = [buffer["name"] for buffer in config.input_buffers]
    assert "path_1spp" in names and "direct" not in names and config.frame_kernel_dilations == [1, 3]
    assert config.temporal_blend and config.global_context and config.frame_surface_cells == [4, 16]
    assert config.num_channels == sum(BUFFER_SPECS[name].channels for name in names)
    task = family.make_task(config)
    assert task.gate_baseline == "path_1spp"
    assert family.make_task(model_entry("v2_ultra")[1].config("tiny")).gate_baseline == "direct"
    assert entry.subfolder == "v2_ultra_ray_reconstruction" and entry.published
