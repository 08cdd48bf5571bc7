"""Atomic file writes (an interrupted run never leaves a half-written file under the final name), and the paths a
record file keeps of other folders."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "path_for_record", "path_from_record"]


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


def path_for_record(path: str | Path, folder: str | Path) -> str:
    """`path` as a record file kept in `folder` stores it: relative to `folder` when it lies inside it (the record
    then stays right when the folder is moved or read from another working directory), absolute otherwise."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)


def path_from_record(recorded: str | Path, folder: str | Path) -> Path:
    """The path that a record file kept in `folder` stores as `recorded` (`path_for_record`): absolute as it is,
    relative against `folder`. Records written before `path_for_record` hold paths relative to the working directory
    they were made in; such a path is used when `folder` does not hold it.

    Raises:
        FileNotFoundError: neither place holds it (the message names both).
    """
    recorded, folder = Path(recorded), Path(folder)
    candidates = [recorded] if recorded.is_absolute() else [folder / recorded, recorded]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = " or ".join(str(candidate) for candidate in candidates)
    raise FileNotFoundError(f"The record in {folder} names {recorded}, which is not there (looked for {tried}).")
