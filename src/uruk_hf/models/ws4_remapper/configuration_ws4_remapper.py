"""Configuration of the WS4 world remapper: a frame under one time-of-day preset to the same view under another
(22.66M; the v2 rerun the same size; distilled student 7.92M)."""

from transformers import PretrainedConfig

from ...configuration_utils import UrukConfigMixin
from ...schema import WS4_LAYOUT, layout_channels, layout_slice

__all__ = ["LIGHTING_PRESET_NAMES", "UrukWS4RemapperConfig"]

LIGHTING_PRESET_NAMES = ("noon", "golden_hour", "overcast", "night")
"""The default time-of-day presets, in condition order."""


_BUFFER_FIELD_CHANNELS = {
    "source_buffer": 3,
    "albedo_buffer": 3,
    "irradiance_buffer": 3,
    "key_irradiance_buffer": 3,
    "key_specular_buffer": 3,
    "shadow_buffer": 1,
    "source_emission_buffer": 3,
    "target_emission_buffer": 3,
}
"""Each config field that names an input buffer the head reads, and the channels that buffer must have."""


class UrukWS4RemapperConfig(UrukConfigMixin, PretrainedConfig):
    r"""Configuration of [`UrukWS4Remapper`]: a residual U-Net whose every block is modulated (FiLM) by the lighting
    condition, and a head that maps the source frame to the target one.

    The condition vector (`condition_size` = 2 x presets + 4) is, in order: the source preset as a one-hot over
    `lighting_presets`, the target preset as a one-hot, and the target's key light (a unit vector towards the sun in
    world space, then its mean irradiance; zeros for presets without a sun).

    Args:
        input_buffers (`list[dict]`, *optional*, defaults to `uruk_hf.schema.WS4_LAYOUT`):
            Ordered `{"name": str, "channels": int}` entries, the layout of `pixel_values` (packed by
            `UrukGBufferProcessor`).
        hidden_sizes (`list[int]`, *optional*, defaults to the full-size row of `role`):
            Trunk width at each resolution level, full resolution first.
        depths (`list[int]`, *optional*, defaults to the full-size row of `role`):
            Residual blocks per level.
        lighting_presets (`list[str]`, *optional*, defaults to `LIGHTING_PRESET_NAMES`):
            The presets the condition's one-hots index.
        source_buffer (`str`, *optional*, defaults to `"source_frame"`):
            Input buffer of the frame under the source preset (3 channels, `log1p`-encoded).
        albedo_buffer (`str`, *optional*, defaults to `"albedo"`):
            Input buffer whose 3 channels modulate the predicted illumination.
        irradiance_buffer (`str`, *optional*, defaults to `"target_irradiance"`):
            Input buffer of the target lights' unshadowed irradiance (3 channels, `log1p`-encoded).
        key_irradiance_buffer (`str`, *optional*, defaults to `"target_key_irradiance"`):
            Input buffer of the part of it from the target's key light (3 channels, `log1p`-encoded).
        key_specular_buffer (`str`, *optional*, defaults to `"target_key_specular"`):
            Input buffer of the target key light's unshadowed GGX specular reflection towards the camera (3
            channels, `log1p`-encoded): the head passes it through the shadow map with a predicted gain.
        shadow_buffer (`str`, *optional*, defaults to `"target_shadow"`):
            Input buffer of the target key light's visibility (1 channel): the head multiplies the key light's
            irradiance by it, as an engine's shadowed key-light pass does.
        source_emission_buffer (`str`, *optional*, defaults to `"source_emission"`):
            Input buffer of the radiance seen directly from emitters and the sky under the source preset (3 channels,
            `log1p`-encoded): taken out of the source frame before its colour gain.
        target_emission_buffer (`str`, *optional*, defaults to `"target_emission"`):
            Input buffer of the radiance seen directly from emitters and the sky under the target preset (3
            channels, `log1p`-encoded): added to the predicted frame as it is.
        role (`str`, *optional*, defaults to `"v1"`):
            `"v1"` (the first run), `"v2"` (its rerun) or `"student"`.
    """

    model_type = "uruk_ws4_remapper"
    required_fields = ("input_buffers", "hidden_sizes", "depths", "lighting_presets", *_BUFFER_FIELD_CHANNELS)
    default_role = "v1"
    presets = {
        "tiny": {
            "v1": {"hidden_sizes": [8, 16], "depths": [1, 1]},
            "v2": {"hidden_sizes": [8, 16], "depths": [1, 1]},
            "student": {"hidden_sizes": [4, 8], "depths": [1, 1]},
        },
        "quick": {
            "v1": {"hidden_sizes": [24, 48, 96, 160], "depths": [1, 1, 2, 2]},
            "v2": {"hidden_sizes": [24, 48, 96, 160], "depths": [1, 1, 2, 2]},
            "student": {"hidden_sizes": [16, 32, 64, 96], "depths": [1, 1, 2, 2]},
        },
        "full": {
            "v1": {"hidden_sizes": [48, 96, 192, 320, 528], "depths": [1, 1, 2, 2, 2]},
            "v2": {"hidden_sizes": [48, 96, 192, 320, 528], "depths": [1, 1, 2, 2, 2]},
            "student": {"hidden_sizes": [32, 64, 112, 192, 304], "depths": [1, 1, 2, 2, 2]},
        },
    }

    def __init__(
        self,
        input_buffers: list[dict] | None = None,
        hidden_sizes: list[int] | None = None,
        depths: list[int] | None = None,
        lighting_presets: list[str] | None = None,
        source_buffer: str = "source_frame",
        albedo_buffer: str = "albedo",
        irradiance_buffer: str = "target_irradiance",
        key_irradiance_buffer: str = "target_key_irradiance",
        key_specular_buffer: str = "target_key_specular",
        shadow_buffer: str = "target_shadow",
        source_emission_buffer: str = "source_emission",
        target_emission_buffer: str = "target_emission",
        role: str | None = None,
        **kwargs,
    ):
        role = role or self.default_role
        full_size = self.presets["full"].get(role, {})
        self.input_buffers = [dict(entry) for entry in (input_buffers or WS4_LAYOUT)]
        self.hidden_sizes = list(hidden_sizes or full_size.get("hidden_sizes", []))
        self.depths = list(depths or full_size.get("depths", []))
        self.lighting_presets = list(lighting_presets or LIGHTING_PRESET_NAMES)
        self.source_buffer, self.albedo_buffer, self.role = source_buffer, albedo_buffer, role
        self.irradiance_buffer, self.key_irradiance_buffer = irradiance_buffer, key_irradiance_buffer
        self.key_specular_buffer = key_specular_buffer
        self.shadow_buffer = shadow_buffer
        self.source_emission_buffer, self.target_emission_buffer = source_emission_buffer, target_emission_buffer
        super().__init__(**kwargs)
        if role not in self.presets["full"]:
            raise ValueError(
                f"Unknown role {role!r} for {type(self).__name__}; choose one of {sorted(self.presets['full'])}."
            )
        if not self.hidden_sizes or len(self.hidden_sizes) != len(self.depths):
            raise ValueError(f"hidden_sizes {self.hidden_sizes} and depths {self.depths} must be non-empty and match.")
        for field, channels in _BUFFER_FIELD_CHANNELS.items():
            part = self.buffer_slice(getattr(self, field))
            if part.stop - part.start != channels:
                plural = "s" if channels > 1 else ""
                raise ValueError(f"{field}={getattr(self, field)!r} must have {channels} channel{plural}.")

    @property
    def num_channels(self) -> int:
        """Channels of `pixel_values`: the sum of `input_buffers`."""
        return layout_channels(self.input_buffers)

    @property
    def condition_size(self) -> int:
        """Length of the condition vector: two one-hots over the presets and the target's key light (4)."""
        return 2 * len(self.lighting_presets) + 4

    def buffer_slice(self, name: str) -> slice:
        """The channel slice of buffer `name` inside `pixel_values`."""
        return layout_slice(self.input_buffers, name)
