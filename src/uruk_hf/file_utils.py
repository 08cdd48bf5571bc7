"""Atomic file writes: an interrupted run never leaves a half-written file under the final name."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path`; when the block succeeds the file is fsynced and renamed onto `path`
    (an atomic replace on POSIX), otherwise it is deleted. Readers see the old file or the whole new one, never a
    partial write, even after `kill -9`.

    Raises:
        PermissionError / FileNotFoundError: the folder of `path` cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod(0o666 & ~umask)  # mkstemp creates 0600; the final file gets ordinary permissions
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
