"""Reading tensor files without executing anything in them, with errors that name the file and what is wrong.

Every `.pt` / `.bin` / `.pth` file the library reads (seed-style checkpoints, optimizer states, training
checkpoints) goes through `load_torch_file`: `torch.load(..., weights_only=True)`, which refuses any pickled object
other than tensors and plain containers, always passed explicitly so that `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` cannot
turn it off. Safetensors files go through `load_safetensors_file`. A file that is truncated, of another format
(text, JSON, safetensors, an image) or refused by the safe loader raises `UnreadableFileError` naming the path,
its size and the reason, instead of an `IndexError`, `struct.error` or `KeyError` from inside a dependency.
"""

import pickle
import struct
import zipfile
from pathlib import Path

__all__ = ["UnreadableFileError", "describe_file_start", "load_safetensors_file", "load_torch_file"]

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = b"\x80"


class UnreadableFileError(ValueError):
    """A file cannot be read as what it should be: truncated, damaged, of another format, or (for torch files)
    pickling objects that `torch.load(..., weights_only=True)` refuses. Nothing in it was executed."""


def describe_file_start(path: Path) -> str:
    """What the first bytes of `path` look like (for error messages): an empty file, JSON, text, a PNG, an EXR, a
    safetensors file, or the bytes themselves."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        return "it is empty (0 bytes)"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image"
    if head.startswith(b"\x76\x2f\x31\x01"):
        return "it is an OpenEXR image"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "it is a safetensors file"
    if head.lstrip()[:1] in (b"{", b"["):
        return "it starts like JSON text"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {head[:8]!r}"
    return f"it starts like text ({text[:12]!r})" if text.isprintable() or "\n" in text else f"it starts with {head!r}"


def load_torch_file(path: str | Path, map_location="cpu", what: str = "torch file"):
    """`torch.load(path, weights_only=True)` with errors that name `path`.

    Args:
        path: a file written by `torch.save` (zip archive or the old pickle format).
        map_location: where tensors go.
        what: what the file should be, for messages (e.g. `"optimizer state"`).

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: not a torch file, truncated or damaged, or it pickles objects other than tensors and
            plain containers (refused, never executed).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path}.")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTOCOL)):
        raise UnreadableFileError(f"{path} is not a {what} written by torch.save: {describe_file_start(path)}.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = next((line.strip() for line in str(error).splitlines() if "Unsupported" in line), None)
        reason = reason or str(error).strip().splitlines()[0]
        raise UnreadableFileError(
            f"{path} was refused by torch.load(weights_only=True) and not executed: it pickles objects other than "
            f"tensors and plain containers ({reason})."
        ) from error
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, IndexError, KeyError, struct.error) as error:
        detail = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
        raise UnreadableFileError(f"{path} is truncated or damaged ({size} bytes): {detail}.") from error


def load_safetensors_file(path: str | Path) -> dict:
    """`safetensors.torch.load_file(path)` with errors that name `path`.

    Raises:
        FileNotFoundError: no file at `path`.
        UnreadableFileError: not a safetensors file, or truncated or damaged.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No safetensors file at {path}.")
    try:
        return load_file(path)
    except SafetensorError as error:
        raise UnreadableFileError(safetensors_error_message(path, error)) from error


def safetensors_error_message(path: str | Path, error: Exception) -> str:
    """The message of a safetensors file that failed to load: the path, its size and the reason."""
    path = Path(path)
    size = f"{path.stat().st_size} bytes" if path.is_file() else "in the Hub cache"
    return f"{path} is not a readable safetensors file, truncated or damaged ({size}): {error}."
