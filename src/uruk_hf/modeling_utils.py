"""What every Uruk model checks when it is loaded with `from_pretrained`: that a local folder exists, and that its
weights file is readable, with errors that name the folder or file instead of `HFValidationError` or
`SafetensorError` from inside a dependency. (The config's model type and fields: `UrukConfigMixin`.)"""

import os

__all__ = ["UrukPreTrainedModelMixin", "check_model_source"]


def _looks_like_a_path(name: str) -> bool:
    """A name a user meant as a local folder: absolute, relative to `.`/`~`, or not a valid Hub repo id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if os.path.isabs(name) or name.startswith((".", "~")):
        return True
    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    return False


def check_model_source(pretrained_model_name_or_path, subfolder: str = "") -> None:
    """Raises `FileNotFoundError` when `pretrained_model_name_or_path` (plus `subfolder`) is meant as a local folder
    and is not one; a valid Hub repo id that is not a local folder is left to the Hub (or its offline cache).

    Raises:
        FileNotFoundError: the folder (or its subfolder) does not exist, or the path is a file.
    """
    name = os.fspath(pretrained_model_name_or_path)
    if os.path.isdir(name):
        if subfolder and not os.path.isdir(os.path.join(name, subfolder)):
            raise FileNotFoundError(f"{name} has no subfolder {subfolder!r}.")
        return
    if os.path.isfile(name):
        raise FileNotFoundError(f"{name} is a file; from_pretrained takes a model folder or a Hub repo id.")
    if _looks_like_a_path(name):
        raise FileNotFoundError(f"No model folder at {name} (and it is not a Hub repo id such as 'org/name').")


class UrukPreTrainedModelMixin:
    """Mixed into a family's `PreTrainedModel` subclass (before it): `from_pretrained` checks the source first
    (`check_model_source`) and reports an unreadable `model.safetensors` with its path."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        from safetensors import SafetensorError

        from .serialization import UnreadableFileError, safetensors_error_message

        subfolder = kwargs.get("subfolder") or ""
        check_model_source(pretrained_model_name_or_path, subfolder)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            weights = os.path.join(os.fspath(pretrained_model_name_or_path), subfolder, "model.safetensors")
            raise UnreadableFileError(safetensors_error_message(weights, error)) from error
