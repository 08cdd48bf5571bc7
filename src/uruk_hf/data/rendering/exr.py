"""Multi-layer OpenEXR G-buffers, the way engines export them, read into the processor's named-buffer dict.

Reading and writing go through Mitsuba's `Bitmap` (OpenEXR inside), so no extra dependency is needed. A layer map
names, for each buffer, the EXR channels that hold it: an explicit list (`["Albedo.R", "Albedo.G", "Albedo.B"]`)
or a layer prefix (`"Albedo"`, meaning every `Albedo.*` channel in the order R, G, B, A / X, Y, Z / U, V, or the
file's order otherwise).
"""

from pathlib import Path

import numpy as np

from ...file_utils import atomic_path
from ...schema import BUFFER_SPECS
from ...serialization import UnreadableFileError, describe_file_start

__all__ = ["read_exr_gbuffer", "write_exr_gbuffer"]

_COMPONENT_ORDER = {name: rank for rank, name in enumerate(["R", "G", "B", "A", "X", "Y", "Z", "U", "V", "W"])}
_SUFFIXES = {1: ["Y"], 2: ["U", "V"], 3: ["R", "G", "B"]}
_EXR_MAGIC = b"\x76\x2f\x31\x01"


def _mitsuba():
    import mitsuba as mi

    if mi.variant() is None:
        mi.set_variant("scalar_rgb")
    return mi


def _channels_of(layer: str, available: list[str]) -> list[str]:
    channels = [name for name in available if name.rsplit(".", 1)[0] == layer and "." in name]
    if not channels and layer in available:
        return [layer]
    return sorted(channels, key=lambda name: _COMPONENT_ORDER.get(name.rsplit(".", 1)[1].upper(), 99))


def read_exr_gbuffer(path: str | Path, layer_map: dict[str, str | list[str]]) -> dict[str, np.ndarray]:
    """Reads the buffers named in `layer_map` from the EXR at `path` as `{name: (H, W, C) float32}`.

    Raises:
        FileNotFoundError: no file at `path`.
        uruk_hf.serialization.UnreadableFileError: the file is not an OpenEXR image (e.g. a PNG; the message says
            what it looks like), or is truncated or damaged.
        ValueError: a mapped layer or channel is missing from the file (the message lists what the file has), or
            gives a channel count other than the buffer's (for buffers the schema knows).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No EXR file at {path}.")
    with open(path, "rb") as handle:
        if handle.read(4) != _EXR_MAGIC:
            raise UnreadableFileError(f"{path} is not an OpenEXR file: {describe_file_start(path)}.")
    mi = _mitsuba()
    try:
        bitmap = mi.Bitmap(str(path))
        available = [field.name for field in bitmap.struct_()]
        pixels = np.array(bitmap, dtype=np.float32).reshape(bitmap.height(), bitmap.width(), len(available))
    except (RuntimeError, ValueError) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise UnreadableFileError(
            f"{path} is a truncated or damaged OpenEXR file ({path.stat().st_size} bytes): {reason}"
        ) from error
    buffers = {}
    for name, source in layer_map.items():
        channels = list(source) if isinstance(source, list | tuple) else _channels_of(source, available)
        missing = [channel for channel in channels if channel not in available] if channels else [source]
        if missing:
            raise ValueError(f"{path}: buffer {name!r} maps to {missing}, which the file lacks; it has {available}.")
        expected = BUFFER_SPECS[name].channels if name in BUFFER_SPECS else len(channels)
        if len(channels) != expected:
            raise ValueError(f"{path}: buffer {name!r} needs {expected} channels, the map gives {channels}.")
        buffers[name] = np.ascontiguousarray(pixels[..., [available.index(channel) for channel in channels]])
    return buffers


def write_exr_gbuffer(path: str | Path, buffers: dict[str, np.ndarray]) -> Path:
    """Writes `{name: (H, W, C)}` buffers as one multi-layer float32 EXR (layers `name.R/G/B`, `name.U/V`,
    `name.Y`), atomically; returns the path."""
    mi = _mitsuba()
    names, planes = [], []
    for name, values in buffers.items():
        values = np.asarray(values, np.float32)
        values = values[..., None] if values.ndim == 2 else values
        suffixes = _SUFFIXES.get(values.shape[-1], [str(index) for index in range(values.shape[-1])])
        names += [f"{name}.{suffix}" for suffix in suffixes]
        planes.append(values)
    image = np.ascontiguousarray(np.concatenate(planes, axis=-1))
    bitmap = mi.Bitmap(image, pixel_format=mi.Bitmap.PixelFormat.MultiChannel, channel_names=names)
    path = Path(path)
    with atomic_path(path) as temporary:
        bitmap.write(str(temporary.with_suffix(".exr")))
        temporary.with_suffix(".exr").replace(temporary)
    return path
