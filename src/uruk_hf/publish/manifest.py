"""The seed card's file layout (`uruk_hf.catalog.SEED_FILES`): every file the published repo must hold at its exact
path, and which family makes it. Families not built yet are reported as missing, never faked."""

from pathlib import Path

from ..catalog import SEED_FILES

__all__ = ["manifest"]


def manifest(folder: str | Path) -> list[dict]:
    """One row per seed file: `path`, `family`, `present` and `bytes` (0 when missing)."""
    folder = Path(folder)
    rows = []
    for path, family in SEED_FILES.items():
        file = folder / path
        rows.append(
            {
                "path": path,
                "family": family,
                "present": file.is_file(),
                "bytes": file.stat().st_size if file.is_file() else 0,
            }
        )
    return rows
