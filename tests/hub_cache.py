"""Lays a local folder out as a real Hugging Face cache entry, so `from_pretrained("org/name")` resolves it with
`HF_HUB_OFFLINE=1` exactly as it would after a download."""

import hashlib
import os
from pathlib import Path


def lay_out_hub_cache(hf_home: Path, repo_id: str, folder: Path, revision: str = "0" * 40) -> Path:
    """Copies every file of `folder` into `hf_home/hub/models--org--name` as blobs named by their sha256, with a
    snapshot of symlinks at `revision` and `refs/main` pointing to it. Returns the snapshot folder."""
    repo = Path(hf_home) / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    for source in sorted(Path(folder).rglob("*")):
        if not source.is_file():
            continue
        data = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / source.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
