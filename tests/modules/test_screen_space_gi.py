import math

import pytest
import torch

from uruk_hf import UrukV2Ultra, UrukV2UltraConfig
from uruk_hf.modules.screen_space_gi import screen_space_bounce
from uruk_hf.schema import WS5_LAYOUT


def corner_buffers(size: int, wall_radiance: float = 1.0, wall_emissive: float = 0.0) -> dict:
    """A pinhole camera (60 degrees) at the origin looking down -z at a floor (y = -1, unlit) meeting a back wall
    (z = -4, radiance `wall_radiance`); rays above the wall's top (y = 1.5) miss: background."""
    half = math.tan(math.radians(30.0))
    centres = (torch.arange(size) + 0.5) / size * 2.0 - 1.0
    y, x = torch.meshgrid(-centres * half, centres * half, indexing="ij")
    ray = torch.stack([x, y, -torch.ones_like(x)])
    ray = ray / ray.norm(dim=0, keepdim=True)
    wall_t = 4.0 / -ray[2]
    floor_t = torch.where(ray[1] < 0, -1.0 / ray[1].clamp_max(-1e-6), torch.full_like(x, math.inf))
    hits_floor = floor_t < wall_t
    t = torch.minimum(wall_t, floor_t)
    position = ray * t
    on_wall = ~hits_floor & (position[1] <= 1.5)
    mask = (hits_floor | on_wall).float()
    normal = torch.where(
        hits_floor, torch.tensor([0.0, 1.0, 0.0])[:, None, None], torch.tensor([0.0, 0.0, 1.0])[:, None, None]
    )
    radiance = (on_wall.float() * wall_radiance).expand(3, -1, -1)
    buffers = {
        "radiance": radiance,
        "position": position * mask,
        "normal": normal * mask,
        "depth": t * mask,
        "view": -ray,
        "mask": mask[None],
        "emissive": (on_wall.float() * wall_emissive)[None],
    }
    return {name: value[None].float() for name, value in buffers.items()}, hits_floor


def test_the_bounce_is_the_same_at_two_resolutions():
    low_buffers, _ = corner_buffers(32)
    high_buffers, _ = corner_buffers(64)
    low = torch.nn.functional.avg_pool2d(screen_space_bounce(**low_buffers), 8)
    high = torch.nn.functional.avg_pool2d(screen_space_bounce(**high_buffers), 16)
    assert float(low.max()) > 0.05
    assert float((low - high).abs().max() / low.max()) < 0.1


def test_the_lit_wall_lights_the_floor_most_near_it():
    buffers, floor = corner_buffers(48)
    bounce = screen_space_bounce(**buffers)[0, 0]
    per_row = [float(bounce[row][floor[row]].mean()) for row in range(48) if floor[row].any()]
    near, far = per_row[0], per_row[-1]  # the top floor row meets the wall; the bottom one is nearest the camera
    assert near > 1.5 * far > 0.0
    # At the corner a white floor would reflect less than the wall's radiance (view factor below 1).
    assert near < 1.0
    assert float(bounce[~buffers["mask"][0, 0].bool()].abs().max()) == 0.0


def test_lights_and_the_background_send_no_light():
    buffers, _ = corner_buffers(32, wall_emissive=5.0)
    assert float(screen_space_bounce(**buffers).abs().max()) == 0.0


def test_a_second_bounce_carries_the_floors_light_back_to_the_wall():
    """Only the wall sends light in the first bounce; the floor it lights sends some of it back in the second, in
    proportion to the floor's albedo."""
    buffers, floor = corner_buffers(32)
    one = screen_space_bounce(**buffers)[0]
    dark = screen_space_bounce(**buffers, bounces=2, albedo=torch.zeros(1, 3, 32, 32))[0]
    torch.testing.assert_close(dark, one, rtol=0, atol=0)
    grey = screen_space_bounce(**buffers, bounces=2, albedo=torch.full((1, 3, 32, 32), 0.5))[0]
    white = screen_space_bounce(**buffers, bounces=2, albedo=torch.ones(1, 3, 32, 32))[0]
    wall = buffers["mask"][0, 0].bool() & ~floor
    # A plane sends itself nothing: the wall's light is the second bounce's alone, and the floor's the first's.
    assert float(one[:, wall].abs().max()) == 0.0
    assert float((grey - one)[:, wall].mean()) > 0.01
    assert float((grey - one)[:, floor].abs().max()) == 0.0
    torch.testing.assert_close(white - one, 2.0 * (grey - one))
    with pytest.raises(ValueError, match="pass albedo"):
        screen_space_bounce(**buffers, bounces=2)
    with pytest.raises(ValueError, match="bounces must be an integer >= 1, got 0"):
        screen_space_bounce(**buffers, bounces=0)


def test_the_bounce_reaches_the_trunk_and_needs_its_buffers():
    torch.manual_seed(0)
    assert UrukV2UltraConfig.from_preset("tiny").screen_space_bounces == 1
    config = UrukV2UltraConfig.from_preset("tiny", screen_space_bounces=2)
    model = UrukV2Ultra(config).eval()
    assert model.unet.stem.in_channels == config.num_channels + 3
    with torch.no_grad():
        assert model(torch.rand(1, config.num_channels, 19, 27)).frame.shape == (1, 3, 19, 27)
    with pytest.raises(ValueError, match="input_buffers has no view, mask"):
        UrukV2UltraConfig.from_preset("tiny", input_buffers=WS5_LAYOUT)
    with pytest.raises(ValueError, match="screen_space_bounces must be an integer >= 0, got -1"):
        UrukV2UltraConfig.from_preset("tiny", screen_space_bounces=-1)


@pytest.mark.parametrize(
    ("saved_field", "bounces"), [(None, 0), (("screen_space_bounce", False), 0), (("screen_space_bounce", True), 1)]
)
def test_a_checkpoint_saved_before_the_bounce_count_loads_as_it_was_trained(tmp_path, saved_field, bounces):
    """V2 families use one bounce by default. A config saved before the estimate existed has a trunk without its
    channels; one saved with the earlier boolean field has one bounce or none. Each loads as that trunk, computing
    what it computed before."""
    import json

    torch.manual_seed(0)
    model = UrukV2Ultra(UrukV2UltraConfig.from_preset("tiny", screen_space_bounces=bounces)).eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["screen_space_bounces"]
    if saved_field is not None:
        config[saved_field[0]] = saved_field[1]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = UrukV2Ultra.from_pretrained(tmp_path).eval()
    assert loaded.config.screen_space_bounces == bounces
    assert not hasattr(loaded.config, "screen_space_bounce")
    pixels = torch.rand(1, 32, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels).frame, model(pixels).frame, rtol=0, atol=0)
