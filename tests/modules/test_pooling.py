import pytest
import torch

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.modules.pooling import cell_segment_means, gather_segments, segment_means
from uruk_hf.schema import MATERIAL_ID_SLOTS


def test_segment_means_match_a_loop_per_image_and_paint_back():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(3, 5, 9, 11, generator=generator)
    segment_ids = torch.randint(0, 6, (3, 1, 9, 11), generator=generator)
    segment_ids[1] = 0  # one image that is a single segment
    means, sizes = segment_means(values, segment_ids, num_segments=8)
    assert means.shape == (3, 5, 8) and sizes.shape == (3, 1, 8)
    for image in range(3):
        for segment in range(8):
            where = segment_ids[image, 0] == segment
            assert sizes[image, 0, segment] == where.sum()
            expected = values[image][:, where].mean(dim=1) if where.any() else torch.zeros(5)
            torch.testing.assert_close(means[image, :, segment], expected)
    painted = gather_segments(means, segment_ids)
    assert painted.shape == values.shape
    torch.testing.assert_close(painted[1], values[1].mean(dim=(1, 2))[:, None, None].expand(5, 9, 11))


@pytest.mark.parametrize("num_segments", [3, 256], ids=["scattered", "compared"])
def test_cell_segment_means_average_a_surface_within_its_cell_only(num_segments):
    generator = torch.Generator().manual_seed(1)
    values = torch.randn(2, 3, 9, 11, generator=generator)
    segment_ids = torch.randint(0, 3, (2, 1, 9, 11), generator=generator)
    averaged = cell_segment_means(values, segment_ids, cell_size=4, num_segments=num_segments)
    assert averaged.shape == values.shape
    for image in range(2):
        for y in range(9):
            for x in range(11):
                # Cells of 4 from the top-left corner: the last row of cells is 1 pixel high, the last column 3 wide.
                cell = (slice(y // 4 * 4, y // 4 * 4 + 4), slice(x // 4 * 4, x // 4 * 4 + 4))
                same = segment_ids[image, 0][cell] == segment_ids[image, 0, y, x]
                expected = values[image][:, cell[0], cell[1]][:, same].mean(dim=1)
                torch.testing.assert_close(averaged[image, :, y, x], expected)
    # A cell as large as the frame is the plain per-segment mean.
    means, _ = segment_means(values, segment_ids, 3)
    torch.testing.assert_close(cell_segment_means(values, segment_ids, 16, 3), gather_segments(means, segment_ids))


def tiny_inputs_with_surfaces(config, surfaces, height=24, width=32, seed=0):
    """Random buffers whose `material_id` channel holds `surfaces` vertical stripes."""
    generator = torch.Generator().manual_seed(seed)
    pixel_values = torch.rand(1, config.num_channels, height, width, generator=generator)
    stripes = torch.arange(width) * surfaces // width + 1
    ids = config.buffer_slice("material_id")
    pixel_values[:, ids] = (stripes.expand(height, width) / (MATERIAL_ID_SLOTS - 1)).view(1, 1, height, width)
    return pixel_values, stripes


def test_material_logits_are_one_decision_per_surface():
    torch.manual_seed(0)
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()
    pixel_values, stripes = tiny_inputs_with_surfaces(model.config, surfaces=4)
    with torch.no_grad():
        logits = model(pixel_values).material_logits[0]
    for surface in stripes.unique():
        columns = logits[:, :, stripes == surface]
        assert torch.allclose(columns, columns[:, :1, :1].expand_as(columns), atol=1e-5)
    assert not torch.allclose(logits[:, 0, 0], logits[:, 0, -1])


def test_material_logits_see_the_texture_of_a_surface():
    torch.manual_seed(0)
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).eval()
    pixel_values, _ = tiny_inputs_with_surfaces(model.config, surfaces=1)
    albedo = model.config.buffer_slice("albedo")
    flat = pixel_values.clone()
    flat[:, albedo] = pixel_values[:, albedo].mean(dim=(2, 3), keepdim=True)  # same mean colour, no texture
    with torch.no_grad():
        textured, untextured = model(pixel_values).material_logits, model(flat).material_logits
    assert (textured - untextured).abs().max() > 1e-3


def test_a_material_head_needs_its_surface_ids():
    layout = [entry for entry in UrukV2UltraConfig().input_buffers if entry["name"] != "material_id"]
    with pytest.raises(ValueError, match="material_segment_buffer='material_id'.*not in input_buffers"):
        UrukV2UltraConfig.from_preset("tiny", input_buffers=layout)
    config = UrukV2UltraConfig.from_preset("tiny", input_buffers=layout, use_material_head=False)
    assert config.num_channels == 31


def test_material_terms_never_train_the_trunk():
    torch.manual_seed(0)
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny")).train()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    pixel_values, _ = tiny_inputs_with_surfaces(model.config, surfaces=3)
    labels = torch.randint(0, model.config.num_labels, (1, 24, 32))
    logits = model(pixel_values).material_logits
    torch.nn.functional.cross_entropy(logits, labels).backward()
    trained = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert trained and all(name.startswith("material_head.") for name in trained)
