"""`UrukGBufferProcessor`: named raw engine buffers in, the model's packed input tensor out, and back to images.

Like a transformers image processor it owns every conversion between user data and tensors, is saved as
`preprocessor_config.json` beside the weights, and is found by `AutoImageProcessor` after `import uruk_hf`.
"""

from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

from ...schema import BUFFER_SPECS, MATERIAL_ID_SLOTS, OPTIONAL_ZERO_BUFFERS, V2_LAYOUT, layout_channels
from ...tonemap import tonemap

__all__ = ["MATERIAL_PALETTE", "UrukGBufferProcessor", "decode_buffer"]

TRANSFORMS = ("identity", "log1p", "symlog", "material_id")
_MATERIAL_ID_SCALE = float(MATERIAL_ID_SLOTS - 1)
_INTEGER_BUFFERS = ("material_id", "mask")


def decode_buffer(encoded: torch.Tensor, transform: str) -> torch.Tensor:
    """The inverse of `UrukGBufferProcessor.normalize_buffer`: a packed buffer back in its physical units, as models
    read their inputs. Written without `expm1` (`exp(x) - 1`, `sign(x) * (exp(|x|) - 1)`), which ONNX does not have;
    `material_id` comes back as (unrounded) integer ids."""
    if transform == "log1p":
        return torch.exp(encoded) - 1.0
    if transform == "symlog":
        return torch.sign(encoded) * (torch.exp(encoded.abs()) - 1.0)
    if transform == "material_id":
        return encoded * _MATERIAL_ID_SCALE
    if transform == "identity":
        return encoded
    raise ValueError(f"Unknown transform {transform!r}; transforms are {list(TRANSFORMS)}.")


MATERIAL_PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
        [170, 110, 40],
    ],
    dtype=np.uint8,
)
"""Colours of the material classes in `postprocess` class maps (class `i` gets row `i % 12`)."""


def _divisor(name: str) -> int:
    return BUFFER_SPECS[name].resolution_divisor if name in BUFFER_SPECS else 1


class UrukGBufferProcessor(BaseImageProcessor):
    r"""Packs a dict of named raw buffers into `pixel_values` and turns model outputs into images.

    Raw buffers are physical quantities as an engine or Mitsuba writes them (DESIGN §2). Each is normalized by the
    transform of its name (`uruk_hf.schema.BUFFER_SPECS`, overridable with `buffer_transforms`):

    - `identity`: unchanged (albedo, normals, roughness, metallic, specular, view, uv, ao, shadow, mask,
      history_valid, and any buffer name the schema does not know).
    - `log1p`: `log(1 + x)` for non-negative long-tailed quantities (radiance: direct, path_1spp, history;
      distance depth; emission). The frame head adds its residual in this same encoding.
    - `symlog`: `sign(x) * log(1 + |x|)` for signed unbounded quantities (world position, motion in pixels).
    - `material_id`: `id / 255`, so per-object integer ids (`0 .. 255`) land in `[0, 1]`; models decode the id back
      to pool material evidence over each surface.

    Args:
        input_buffers (`list[dict]`, *optional*, defaults to `uruk_hf.schema.V2_LAYOUT`):
            Ordered `{"name", "channels"}` entries; must equal the model config's `input_buffers`.
        buffer_transforms (`dict[str, str]`, *optional*):
            Per-name overrides of the transform, each one of `identity`, `log1p`, `symlog`, `material_id`.

    Example:

    ```python
    >>> import numpy as np
    >>> from uruk_hf import UrukGBufferProcessor
    >>> from uruk_hf.schema import WS5_LAYOUT

    >>> processor = UrukGBufferProcessor(input_buffers=WS5_LAYOUT)
    >>> buffers = {e["name"]: np.zeros((64, 64, e["channels"]), np.float32) for e in WS5_LAYOUT}
    >>> processor(buffers)["pixel_values"].shape
    torch.Size([1, 19, 64, 64])
    ```
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        input_buffers: list[dict] | None = None,
        buffer_transforms: dict[str, str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_buffers = [dict(entry) for entry in (input_buffers or V2_LAYOUT)]
        self.buffer_transforms = dict(buffer_transforms or {})
        unknown = {name: t for name, t in self.buffer_transforms.items() if t not in TRANSFORMS}
        if unknown:
            raise ValueError(f"Unknown buffer_transforms {unknown}; transforms are {list(TRANSFORMS)}.")

    @classmethod
    def from_model_config(cls, config) -> "UrukGBufferProcessor":
        """The processor matching a renderer config's `input_buffers`."""
        return cls(input_buffers=config.input_buffers)

    @property
    def num_channels(self) -> int:
        """Channels of the packed `pixel_values`."""
        return layout_channels(self.input_buffers)

    def transform_of(self, name: str) -> str:
        """The normalization applied to buffer `name`."""
        if name in self.buffer_transforms:
            return self.buffer_transforms[name]
        return BUFFER_SPECS[name].transform if name in BUFFER_SPECS else "identity"

    def normalize_buffer(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """Applies buffer `name`'s transform to raw `values` (any shape); used for packing and by training to write
        the model's previous output into the `history` channels."""
        transform = self.transform_of(name)
        if transform == "log1p":
            return torch.log1p(values)
        if transform == "symlog":
            return torch.sign(values) * torch.log1p(values.abs())
        if transform == "material_id":
            return values / _MATERIAL_ID_SCALE
        return values

    def preprocess(
        self,
        buffers: Mapping[str, np.ndarray | torch.Tensor],
        data_format: str | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """Validates and packs named raw buffers into `pixel_values` of shape `(batch, num_channels, H, W)`.

        Args:
            buffers: one array per name in `input_buffers`, numpy or torch, float16/32/64 (integers also for
                `material_id` and `mask`), shaped `(H, W, C)` / `(C, H, W)` for one frame or `(B, H, W, C)` /
                `(B, C, H, W)` for a batch; 1-channel buffers may drop the channel axis. `history` and
                `history_valid` may be left out on a clip's first frame (they are zeros there). A low-resolution
                buffer (`BufferSpec.resolution_divisor` > 1, e.g. `path_half`) may come at its own size (rounded
                up) or already repeated to the frame's size.
            data_format: `"channels_last"` or `"channels_first"`; inferred per buffer when left out, and required
                only where a shape is ambiguous.
            return_tensors: `"pt"` (default) or `"np"`.

        Raises:
            TypeError: `buffers` is not a mapping of arrays.
            ValueError: a buffer is missing or unexpected, has the wrong channel count, shape or dtype, holds NaN or
                Inf, or is negative where that is physically impossible; the message names the buffer.
        """
        if not isinstance(buffers, Mapping):
            raise TypeError(f"buffers must be a dict of named arrays, got {type(buffers).__name__}.")
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}.")
        names = [entry["name"] for entry in self.input_buffers]
        missing = [name for name in names if name not in buffers and name not in OPTIONAL_ZERO_BUFFERS]
        unexpected = sorted(set(buffers) - set(names))
        if missing or unexpected:
            raise ValueError(
                f"Buffers do not match the layout: missing {missing}, unexpected {unexpected}; expected {names}."
            )
        batched = any(np.ndim(value) == 4 for value in buffers.values())
        tensors = {}
        for entry in self.input_buffers:
            name, channels = entry["name"], int(entry["channels"])
            if name in buffers:
                tensors[name] = self._to_bchw(name, buffers[name], channels, batched, data_format)
        sizes = {name: (tensor.shape[0], *tensor.shape[2:]) for name, tensor in tensors.items()}
        full_size = [size for name, size in sizes.items() if _divisor(name) == 1] or list(sizes.values())
        batch, height, width = max(set(full_size), key=full_size.count)
        for name, tensor in tensors.items():
            divisor = _divisor(name)
            if divisor > 1 and sizes[name] == (batch, -(-height // divisor), -(-width // divisor)):
                # A low-resolution buffer given at its own size: each pixel covers divisor x divisor of the frame.
                tensors[name] = tensor.repeat_interleave(divisor, -2).repeat_interleave(divisor, -1)[
                    ..., :height, :width
                ]
                sizes[name] = (batch, height, width)
        odd = {name: size for name, size in sizes.items() if size != (batch, height, width)}
        if odd:
            described = ", ".join(f"{name!r} is {size[1:]} pixels x {size[0]} frames" for name, size in odd.items())
            raise ValueError(
                f"Buffer {described}, but the other buffers are {(height, width)} x {batch}; all buffers must share "
                "batch, height and width (a low-resolution buffer may instead come at the frame size divided by its "
                "resolution divisor, rounded up)."
            )
        if 0 in (batch, height, width):
            raise ValueError(
                f"The buffers are {height}x{width} pixels x {batch} frames: a frame needs at least 1x1 pixels and a "
                "batch at least one frame."
            )
        packed = []
        for entry in self.input_buffers:
            name, channels = entry["name"], int(entry["channels"])
            tensor = tensors.get(name)
            if tensor is None:
                tensor = torch.zeros(batch, channels, height, width)
            self._check_values(name, tensor)
            packed.append(self.normalize_buffer(name, tensor))
        pixel_values = torch.cat(packed, dim=1)
        if return_tensors == "np":
            pixel_values = pixel_values.numpy()
        return BatchFeature(data={"pixel_values": pixel_values})

    def _to_bchw(self, name, value, channels, batched, data_format) -> torch.Tensor:
        if not isinstance(value, np.ndarray | torch.Tensor):
            raise TypeError(f"Buffer {name!r} must be a numpy array or torch tensor, got {type(value).__name__}.")
        tensor = torch.as_tensor(value)
        is_integer = not tensor.dtype.is_floating_point and not tensor.dtype.is_complex and tensor.dtype != torch.bool
        if not (tensor.dtype.is_floating_point or (is_integer and name in _INTEGER_BUFFERS)):
            kinds = "float16/float32 (or integers)" if name in _INTEGER_BUFFERS else "float16/float32"
            raise ValueError(f"Buffer {name!r} has dtype {tensor.dtype}; expected {kinds}.")
        tensor = tensor.detach().to("cpu", torch.float32)
        expected_ndim = 4 if batched else 3
        if tensor.ndim == expected_ndim - 1 and channels == 1:
            tensor = tensor.unsqueeze(-1 if data_format != "channels_first" else -3)
        if tensor.ndim != expected_ndim:
            frame = "(B, H, W, C) or (B, C, H, W)" if batched else "(H, W, C) or (C, H, W)"
            raise ValueError(
                f"Buffer {name!r} has shape {tuple(tensor.shape)}; expected {frame} with C = {channels}"
                + (" (another buffer is batched, so all must be)" if batched else "")
                + "."
            )
        last, first = tensor.shape[-1], tensor.shape[-3]
        if data_format is None:
            if last == channels and first == channels and channels != 1:
                raise ValueError(f"Buffer {name!r} shape {tuple(tensor.shape)} is ambiguous; pass data_format.")
            data_format = "channels_last" if last == channels else "channels_first"
        if data_format == "channels_last":
            if last != channels:
                raise ValueError(
                    f"Buffer {name!r} must have {channels} channels, got shape {tuple(tensor.shape)} "
                    f"({last} in the last axis)."
                )
            tensor = tensor.movedim(-1, -3)
        elif first != channels:
            raise ValueError(
                f"Buffer {name!r} must have {channels} channels, got shape {tuple(tensor.shape)} "
                f"({first} in the channel axis)."
            )
        return tensor if batched else tensor.unsqueeze(0)

    def _check_values(self, name: str, tensor: torch.Tensor) -> None:
        finite = torch.isfinite(tensor)
        if not finite.all():
            bad = (~finite).nonzero()[0].tolist()
            raise ValueError(
                f"Buffer {name!r} holds {int((~finite).sum())} NaN/Inf values (first at batch, channel, y, x = {bad})."
            )
        if self.transform_of(name) == "material_id" and tensor.numel():
            outside = (tensor < 0) | (tensor > _MATERIAL_ID_SCALE) | (tensor != tensor.round())
            if outside.any():
                raise ValueError(
                    f"Buffer {name!r} holds {int(outside.sum())} values that are not integer ids in "
                    f"0..{MATERIAL_ID_SLOTS - 1} (first: {float(tensor[outside][0]):.4g}); renumber the surfaces of "
                    "each frame into that range."
                )
        spec = BUFFER_SPECS.get(name)
        if spec is not None and spec.non_negative and tensor.numel() and tensor.min() < 0:
            raise ValueError(
                f"Buffer {name!r} has negative values (min {float(tensor.min()):.4g}); it is {spec.description} "
                "and must be >= 0."
            )

    def postprocess(
        self,
        frame: torch.Tensor,
        material_logits: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> list[dict[str, Image.Image]]:
        """Turns model outputs into images, one dict per frame of the batch.

        Args:
            frame: `(B, 3, H, W)` linear-HDR frames (a model output's `frame`).
            material_logits: `(B, classes, H, W)` logits; when given, each dict has a coloured `material_map`.
            mask: `(B, 1, H, W)` or `(B, H, W)` geometry mask; background pixels of `material_map` become black.

        Returns:
            `[{"frame": PIL.Image, "material_map": PIL.Image (with logits)}, ...]`; frames go through the project's
            tone map (`uruk_hf.tonemap.tonemap`: Reinhard, then sRGB) and are quantized to 8 bits.
        """
        if frame.ndim != 4 or frame.shape[1] != 3:
            raise ValueError(f"frame must be (batch, 3, height, width), got {tuple(frame.shape)}.")
        display = (tonemap(frame.detach().float().cpu()) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)
        results = [{"frame": Image.fromarray(image.numpy())} for image in display]
        if material_logits is not None:
            classes = material_logits.detach().argmax(dim=1).cpu().numpy()
            colours = MATERIAL_PALETTE[classes % len(MATERIAL_PALETTE)]
            if mask is not None:
                mask_array = mask.detach().cpu().reshape(classes.shape).numpy() > 0.5
                colours = colours * mask_array[..., None].astype(np.uint8)
            for result, image in zip(results, colours):
                result["material_map"] = Image.fromarray(np.ascontiguousarray(image))
        return results
