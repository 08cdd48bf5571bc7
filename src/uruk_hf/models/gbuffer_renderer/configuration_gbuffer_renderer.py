"""The configuration shared by the G-buffer renderer families (V2-Ultra, V2-Optimized, WS5)."""

from transformers import PretrainedConfig

from ...configuration_utils import UrukConfigMixin
from ...schema import MATERIAL_CLASSES, layout_channels, layout_slice

__all__ = ["MATERIAL_HEAD_BUFFERS", "SCREEN_SPACE_BOUNCE_BUFFERS", "V2_TRUNK_PRESETS", "UrukRendererConfig"]

V2_TRUNK_PRESETS = {
    "tiny": {
        "teacher": {"hidden_sizes": [12, 24], "depths": [1, 1], "material_head_width": 16},
        "student": {"hidden_sizes": [6, 10], "depths": [1, 1], "material_head_width": 8},
    },
    "quick": {
        "teacher": {"hidden_sizes": [24, 48, 96, 160], "depths": [1, 1, 2, 2]},
        "student": {"hidden_sizes": [16, 32, 64, 96], "depths": [1, 1, 2, 2]},
    },
    "full": {
        "teacher": {"hidden_sizes": [64, 128, 256, 384, 704], "depths": [1, 1, 2, 2, 2]},
        "student": {"hidden_sizes": [16, 48, 96, 192, 296], "depths": [1, 1, 1, 2, 2]},
    },
}
"""Trunk sizes of the V2 renderers. V2-Ultra's student and V2-Optimized share the student rows, which is what
makes their state dicts interchangeable (V2-Optimized warm-starts from the V2-Ultra student, DESIGN §4)."""


MATERIAL_HEAD_BUFFERS = ("albedo", "normal", "depth", "roughness", "metallic", "specular", "emissive")
"""The surface buffers whose statistics the material head pools per surface (not `material_id`: a random id)."""


SCREEN_SPACE_BOUNCE_BUFFERS = ("position", "normal", "depth", "view", "mask", "emissive")
"""The G-buffer the screen-space bounce estimate reads, besides the cheap render."""


class UrukRendererConfig(UrukConfigMixin, PretrainedConfig):
    r"""Fields shared by every G-buffer renderer: the input layout, the U-Net trunk and the output heads.

    Family configs subclass this and set the class attributes `model_type`, `default_input_buffers`,
    `default_role`, `default_use_material_head`, `default_global_context`, `default_screen_space_bounces` and
    `presets` (keyed by preset, then role;
    a family of one model sets `default_role = None` and gives one row per preset); `FamilyConfig()` with no
    arguments is the full size of the family's published model.

    Args:
        input_buffers (`list[dict]`, *optional*, defaults to the family's layout):
            Ordered `{"name": str, "channels": int}` entries, the layout of `pixel_values`. Names known to
            `uruk_hf.schema.BUFFER_SPECS` get their documented normalization in `UrukGBufferProcessor`.
        hidden_sizes (`list[int]`, *optional*, defaults to the family's full-size row):
            Trunk width at each resolution level, full resolution first.
        depths (`list[int]`, *optional*, defaults to the family's full-size row):
            Residual blocks per level in the encoder and again in the decoder.
        cheap_render_buffer (`str`, *optional*, defaults to `"direct"`):
            Input buffer holding the cheap render the frame head refines (`"direct"`, or `"path_1spp"` in the
            ray-reconstruction layout). Must have 3 channels.
        cheap_render_divisor (`int`, *optional*, defaults to 1):
            The cheap render's resolution divisor (`uruk_hf.schema.BufferSpec.resolution_divisor`): above 1 the
            buffer is a low-resolution render repeated to full size, and the frame head refines its
            albedo-demodulated upscale (`uruk_hf.modules.upscaling.demodulated_upscale`) instead of the buffer
            itself: the WS6 fast path.
        albedo_buffer (`str`, *optional*, defaults to `"albedo"`):
            Input buffer whose 3 channels modulate the predicted shading.
        global_context (`bool`, *optional*, defaults to the family's choice):
            Whether the trunk adds the frame's mean features to every pixel of its coarsest level
            (`uruk_hf.modules.unet.UrukGlobalContext`), so that the light from outside a convolution's reach is seen
            at any resolution. A config saved before this field existed loads with the family's choice: the block
            starts as the identity, so old weights keep their function.
        screen_space_bounces (`int`, *optional*, defaults to the family's choice):
            How many bounces of the cheap render's light between the visible surfaces the trunk receives as a
            screen-space estimate (`uruk_hf.modules.screen_space_gi.screen_space_bounce`, their sum as 3 more input
            channels; 0 for none): the same at any resolution, where a convolution's reach covers less of the scene as
            the frame grows. Needs `position`, `normal`, `depth`, `view`, `mask` and `emissive` in `input_buffers`.
            A config saved with the earlier boolean `screen_space_bounce` loads as 1 bounce (`true`) or none, and one
            saved before either existed as none.
        screen_space_bounce_grid (`int`, *optional*, defaults to 16):
            Regions per side of that estimate (each region both sends light and receives it at a probe).
        frame_kernel_size (`int`, *optional*, defaults to 5):
            Width of each grid of taps of the frame head's predicted filter (odd).
        frame_kernel_dilations (`list[int]`, *optional*, defaults to `[1]`):
            Spacing in pixels of each grid of the filter (`UrukFrameHead`), odd: `[1]` is a dense 5x5 filter,
            `[1, 3]` adds a grid of 3x3-pixel box averages 3 pixels apart (15x15 pixels in all) for very noisy cheap
            renders (the ray-reconstruction input).
        temporal_blend (`bool`, *optional*, defaults to `False`):
            Whether the frame head also predicts, per pixel, how much of the model's own reprojected previous output
            (`history`, where `history_valid` is 1) to blend into the frame: an exponential moving average over
            frames, as TAA and SVGF accumulate samples. Needs `history` and `history_valid` in `input_buffers`.
        frame_surface_cells (`list[int]`, *optional*, defaults to `[]`):
            Cell sizes in pixels of the frame head's per-surface taps (`UrukFrameHead`): for each, one more tap in
            the filter's softmax, the mean of the albedo-demodulated cheap render over the pixels of the same
            surface of `material_segment_buffer` inside the pixel's cell, remodulated. `[4, 16]` in the
            ray-reconstruction mode, where a 1-spp input needs averaging wider than the grids' taps reach.
        use_material_head (`bool`, *optional*, defaults to the family's choice):
            Whether the model predicts per-pixel material logits over `id2label`.
        material_head_buffers (`list[str]`, *optional*, defaults to the G-buffer's surface buffers):
            Input buffers whose statistics over each surface the material head classifies (the attributes that
            name a material: albedo, normal, depth, roughness, metallic, specular, emissive). Names missing from
            `input_buffers` are skipped.
        material_segment_buffer (`str`, *optional*, defaults to `"material_id"`):
            Input buffer of integer surface ids (`0 .. uruk_hf.schema.MATERIAL_ID_SLOTS - 1`, encoded by the
            processor's `material_id` transform): the material head pools its statistics over each id, and the
            frame head's surface taps average over them.
        material_head_width (`int`, *optional*, defaults to 64):
            Channels of the material head's classifier.
        material_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the material cross-entropy against the frame loss when the model computes its own loss.
        role (`str`, *optional*, defaults to the family's published role):
            `"teacher"` or `"student"` for families distilled teacher to student; recorded for cards and runs.
        id2label (`dict[int, str]`, *optional*, defaults to `uruk_hf.schema.MATERIAL_CLASSES` with a material head):
            The semantic material classes.
    """

    default_input_buffers: list[dict] = []
    required_fields = (
        "input_buffers",
        "hidden_sizes",
        "depths",
        "cheap_render_buffer",
        "albedo_buffer",
        "use_material_head",
        "material_head_buffers",
        "material_segment_buffer",
        "material_head_width",
    )
    default_role: str = "student"
    default_use_material_head: bool = True
    default_global_context: bool = False
    default_screen_space_bounces: int = 0
    presets: dict[str, dict[str, dict]] = {}

    def __init__(
        self,
        input_buffers: list[dict] | None = None,
        hidden_sizes: list[int] | None = None,
        depths: list[int] | None = None,
        cheap_render_buffer: str = "direct",
        cheap_render_divisor: int = 1,
        albedo_buffer: str = "albedo",
        global_context: bool | None = None,
        screen_space_bounces: int | None = None,
        screen_space_bounce_grid: int = 16,
        frame_kernel_size: int = 5,
        frame_kernel_dilations: list[int] | None = None,
        temporal_blend: bool = False,
        frame_surface_cells: list[int] | None = None,
        use_material_head: bool | None = None,
        material_head_buffers: list[str] | None = None,
        material_segment_buffer: str = "material_id",
        material_head_width: int = 64,
        material_loss_weight: float = 1.0,
        role: str | None = None,
        **kwargs,
    ):
        role = role or self.default_role
        use_material_head = self.default_use_material_head if use_material_head is None else use_material_head
        full_rows = self.presets.get("full", {})
        full_size = full_rows if self.default_role is None else full_rows.get(role, {})
        self.input_buffers = [dict(entry) for entry in (input_buffers or self.default_input_buffers)]
        self.hidden_sizes = list(hidden_sizes or full_size.get("hidden_sizes", []))
        self.depths = list(depths or full_size.get("depths", []))
        self.cheap_render_buffer = cheap_render_buffer
        self.cheap_render_divisor = cheap_render_divisor
        self.albedo_buffer = albedo_buffer
        self.global_context = self.default_global_context if global_context is None else bool(global_context)
        earlier_boolean = kwargs.pop("screen_space_bounce", None)
        if screen_space_bounces is None and earlier_boolean is not None:
            screen_space_bounces = int(bool(earlier_boolean))
        self.screen_space_bounces = (
            self.default_screen_space_bounces if screen_space_bounces is None else screen_space_bounces
        )
        self.screen_space_bounce_grid = screen_space_bounce_grid
        self.frame_kernel_size = frame_kernel_size
        self.frame_kernel_dilations = list(frame_kernel_dilations or [1])
        self.temporal_blend = bool(temporal_blend)
        self.frame_surface_cells = list(frame_surface_cells or [])
        self.use_material_head = use_material_head
        self.material_head_buffers = list(
            MATERIAL_HEAD_BUFFERS if material_head_buffers is None else material_head_buffers
        )
        self.material_segment_buffer = material_segment_buffer
        self.material_head_width = material_head_width
        self.material_loss_weight = material_loss_weight
        self.role = role
        if use_material_head and kwargs.get("id2label") is None and kwargs.get("num_labels") is None:
            kwargs["id2label"] = dict(enumerate(MATERIAL_CLASSES))
            kwargs["label2id"] = {name: index for index, name in enumerate(MATERIAL_CLASSES)}
        if not use_material_head and kwargs.get("id2label") is None:
            kwargs.setdefault("num_labels", 0)
        super().__init__(**kwargs)
        self._validate()

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        # A config saved before the screen-space estimate existed describes a trunk without its channels.
        if "screen_space_bounces" not in config_dict and "screen_space_bounce" not in config_dict:
            config_dict = {**config_dict, "screen_space_bounces": 0}
        return super().from_dict(config_dict, **kwargs)

    @property
    def num_channels(self) -> int:
        """Channels of `pixel_values`: the sum of `input_buffers`."""
        return layout_channels(self.input_buffers)

    def buffer_slice(self, name: str) -> slice:
        """The channel slice of buffer `name` inside `pixel_values`."""
        return layout_slice(self.input_buffers, name)

    def material_head_slices(self) -> list[slice]:
        """The channel slices of the `material_head_buffers` present in `input_buffers`."""
        present = {entry["name"] for entry in self.input_buffers}
        return [self.buffer_slice(name) for name in self.material_head_buffers if name in present]

    def _check_segment_buffer(self, names: list[str]) -> None:
        """The surface ids that the material head and the frame head's surface taps pool over: one channel of
        `input_buffers`."""
        users = [
            user
            for user, used in (
                ("the material head", self.use_material_head),
                ("frame_surface_cells", self.frame_surface_cells),
            )
            if used
        ]
        if self.material_segment_buffer not in names:
            raise ValueError(
                f"material_segment_buffer={self.material_segment_buffer!r} is not in input_buffers {names}: "
                f"{' and '.join(users)} pool over its surfaces."
            )
        segment = self.buffer_slice(self.material_segment_buffer)
        if segment.stop - segment.start != 1:
            raise ValueError(f"material_segment_buffer={self.material_segment_buffer!r} must have 1 channel.")

    def _validate(self) -> None:
        names = []
        for entry in self.input_buffers:
            if set(entry) != {"name", "channels"} or not isinstance(entry["channels"], int) or entry["channels"] < 1:
                raise ValueError(f"input_buffers entries must be {{'name': str, 'channels': int >= 1}}, got {entry}.")
            names.append(entry["name"])
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"input_buffers names must be unique; repeated: {duplicates}.")
        for field in ("cheap_render_buffer", "albedo_buffer"):
            channels = self.buffer_slice(getattr(self, field))
            if channels.stop - channels.start != 3:
                raise ValueError(f"{field}={getattr(self, field)!r} must have 3 channels.")
        if not isinstance(self.cheap_render_divisor, int) or self.cheap_render_divisor < 1:
            raise ValueError(f"cheap_render_divisor must be an integer >= 1, got {self.cheap_render_divisor!r}.")
        if self.frame_kernel_size < 1 or self.frame_kernel_size % 2 == 0:
            raise ValueError(f"frame_kernel_size must be a positive odd number, got {self.frame_kernel_size}.")
        if not self.frame_kernel_dilations or any(d < 1 or d % 2 == 0 for d in self.frame_kernel_dilations):
            raise ValueError(
                f"frame_kernel_dilations must be odd positive integers (a grid of spacing d samples d x d box "
                f"averages centred on its taps), got {self.frame_kernel_dilations}."
            )
        if any(not isinstance(cell, int) or cell < 1 for cell in self.frame_surface_cells):
            raise ValueError(
                f"frame_surface_cells must be cell sizes in pixels (integers >= 1), got {self.frame_surface_cells}."
            )
        if self.frame_surface_cells or self.use_material_head:
            self._check_segment_buffer(names)
        missing_history = [name for name in ("history", "history_valid") if name not in names]
        if self.temporal_blend and missing_history:
            raise ValueError(
                f"temporal_blend blends the model's reprojected previous output into the frame, but input_buffers "
                f"has no {' or '.join(missing_history)}."
            )
        missing_bounce = [name for name in SCREEN_SPACE_BOUNCE_BUFFERS if name not in names]
        bounces = self.screen_space_bounces
        if isinstance(bounces, bool) or not isinstance(bounces, int) or bounces < 0:
            raise ValueError(f"screen_space_bounces must be an integer >= 0, got {bounces!r}.")
        if bounces and missing_bounce:
            raise ValueError(
                f"screen_space_bounces gathers light between the visible surfaces from their G-buffer, but "
                f"input_buffers has no {', '.join(missing_bounce)}."
            )
        if bounces and self.cheap_render_divisor != 1:
            raise ValueError("screen_space_bounces needs a full-resolution cheap render (cheap_render_divisor=1).")
        if not isinstance(self.screen_space_bounce_grid, int) or self.screen_space_bounce_grid < 1:
            raise ValueError(
                f"screen_space_bounce_grid must be an integer >= 1, got {self.screen_space_bounce_grid!r}."
            )
        if not self.hidden_sizes or len(self.hidden_sizes) != len(self.depths):
            raise ValueError(f"hidden_sizes {self.hidden_sizes} and depths {self.depths} must be non-empty and match.")
        if self.use_material_head and self.num_labels < 2:
            raise ValueError(f"A material head needs at least 2 classes in id2label, got {self.id2label}.")
        valid_roles = {role for rows in self.presets.values() for role in rows} if self.default_role else set()
        if valid_roles and self.role not in valid_roles:
            raise ValueError(
                f"Unknown role {self.role!r} for {type(self).__name__}; choose one of {sorted(valid_roles)}."
            )
