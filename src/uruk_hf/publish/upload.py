"""`uruk publish upload`: push a built repo folder to the Hub with `huggingface_hub` (the same as
`huggingface-cli upload ORG/NAME FOLDER .` or `hf upload ORG/NAME FOLDER .`)."""

from pathlib import Path

__all__ = ["LARGE_FOLDER_BYTES", "upload_repo_folder"]

LARGE_FOLDER_BYTES = 5 * 1024**3
"""Above this size the folder goes through `upload_large_folder` (resumable, multi-commit)."""


def upload_repo_folder(folder: str | Path, repo_id: str, private: bool = False, api=None) -> dict:
    """Creates `repo_id` if needed and uploads `folder` to its root; returns what was called and with what.

    Raises:
        FileNotFoundError: `folder` is not a built repo folder (no `README.md` or `manifest.json`).
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    for name in ("README.md", "manifest.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder} is not a built repo folder (no {name}); run `uruk publish build` first."
            )
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    if size > LARGE_FOLDER_BYTES:
        api.upload_large_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model")
        return {"method": "upload_large_folder", "repo_id": repo_id, "bytes": size}
    api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), repo_type="model", commit_message="Upload uruk_hf models"
    )
    return {"method": "upload_folder", "repo_id": repo_id, "bytes": size}
