"""What every Uruk model shares beyond `PreTrainedModel`: `from_pretrained` checks that a local folder exists and
that its weights file is readable, with errors that name the folder or file instead of `HFValidationError` or
`SafetensorError` from inside a dependency (the config's model type and fields: `UrukConfigMixin`); and the seed's
legacy `.pt` checkpoints, read and written without executing anything (`uruk_hf.legacy`)."""

import os
from pathlib import Path

__all__ = ["UrukORTModel", "UrukPreTrainedModelMixin", "check_model_source", "has_non_finite", "onnx_model_files"]


def has_non_finite(values) -> bool:
    """Whether the tensor `values` holds NaN or Inf, in eager mode only: always `False` while tracing, exporting
    or compiling (the exported graph carries no check) and on the meta device. One sum decides the common case: a
    NaN or Inf anywhere makes it non-finite (a sum that merely overflows is looked at value by value)."""
    import torch

    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return False
    if values.device.type == "meta" or bool(torch.isfinite(values.sum())):
        return False
    return not bool(torch.isfinite(values).all())


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
    (`check_model_source`) and reports an unreadable `model.safetensors` with its path; seed-style `.pt` files are
    read and written by `from_legacy_checkpoint` and `save_legacy_checkpoint`."""

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

    @classmethod
    def from_legacy_checkpoint(cls, path: str | Path, map_location="cpu"):
        """Loads a model from a seed-style `.pt` checkpoint (`model_state_dict`, `config`, ...).

        The file is read with `torch.load(..., weights_only=True)`: nothing in it is executed.

        Raises:
            uruk_hf.legacy.LegacyCheckpointError: the file is truncated or not a checkpoint, pickles a disallowed
                object, belongs to another model family, or its weights do not match its config.
        """
        from .legacy import LegacyCheckpointError, load_legacy_checkpoint

        checkpoint = load_legacy_checkpoint(path, map_location=map_location)
        config_dict = dict(checkpoint["config"])
        model_type = config_dict.get("model_type")
        if model_type != cls.config_class.model_type:
            raise LegacyCheckpointError(
                f"{path} holds a {model_type!r} checkpoint, not {cls.config_class.model_type!r} ({cls.__name__})."
            )
        model = cls(cls.config_class.from_dict(config_dict))
        state_dict = checkpoint["model_state_dict"]
        expected = set(model.state_dict())
        missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
        if missing or unexpected:
            raise LegacyCheckpointError(
                f"{path}: model_state_dict does not match its config: missing keys {missing}, unexpected keys "
                f"{unexpected}."
            )
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as error:
            raise LegacyCheckpointError(f"{path}: model_state_dict does not fit its config: {error}") from error
        return model.eval()

    def save_legacy_checkpoint(
        self,
        path: str | Path,
        stage: str | None = None,
        epoch: int | None = None,
        metrics: dict[str, float] | None = None,
        optimizer_state_dict: dict | None = None,
    ) -> Path:
        """Writes a seed-style `.pt` checkpoint atomically (see `uruk_hf.legacy.save_legacy_checkpoint`)."""
        from .legacy import save_legacy_checkpoint

        return save_legacy_checkpoint(
            path,
            model_state_dict=self.state_dict(),
            config=self.config.to_dict(),
            stage=stage,
            epoch=epoch,
            metrics=metrics,
            optimizer_state_dict=optimizer_state_dict,
        )


def onnx_model_files(path_or_repo_id, subfolder: str, file_name: str, **hub_kwargs) -> tuple[Path, Path]:
    """The local paths of an exported model's ONNX file `file_name` and its `config.json`, in a folder
    (`path_or_repo_id/subfolder`) or a Hub repo (through the local cache when `HF_HUB_OFFLINE=1`; `hub_kwargs` go to
    `hf_hub_download`, e.g. `revision`).

    Raises:
        FileNotFoundError: the folder has no `file_name` or `config.json`.
    """
    folder = Path(path_or_repo_id) / subfolder
    if Path(path_or_repo_id).is_dir():
        model_path, config_path = folder / file_name, folder / "config.json"
        for path in (model_path, config_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist: export the model with `uruk export onnx` first.")
        return model_path, config_path
    from huggingface_hub import hf_hub_download

    kwargs = {"subfolder": subfolder or None, **hub_kwargs}
    model_path = Path(hf_hub_download(str(path_or_repo_id), file_name, **kwargs))
    return model_path, Path(hf_hub_download(str(path_or_repo_id), "config.json", **kwargs))


class UrukORTModel:
    """Base of the ONNX Runtime classes of every family, in the style of Optimum's `ORTModel`: `from_pretrained`
    takes a local folder or a Hub repo id (with `subfolder`); a subclass implements `__call__` for its inputs.

    Args:
        session: the `onnxruntime.InferenceSession` of `model.onnx` (or a quantized variant).
        config: the model's config (`AutoConfig` of the same folder).
        model_path: where the ONNX file was loaded from.
    """

    def __init__(self, session, config, model_path: Path | None = None):
        self.session, self.config, self.model_path = session, config, model_path
        self.output_names = [output.name for output in session.get_outputs()]

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id,
        subfolder: str = "",
        file_name: str = "model.onnx",
        provider: str = "CPUExecutionProvider",
        session_options=None,
        **hub_kwargs,
    ):
        """Loads `file_name` and `config.json` from a folder (`path_or_repo_id/subfolder`) or a Hub repo (through
        the local cache when `HF_HUB_OFFLINE=1`; `hub_kwargs` go to `hf_hub_download`, e.g. `revision`).

        Raises:
            FileNotFoundError: the folder has no `file_name` or `config.json`.
        """
        import onnxruntime
        from transformers import AutoConfig

        model_path, config_path = onnx_model_files(path_or_repo_id, subfolder, file_name, **hub_kwargs)
        config = AutoConfig.from_pretrained(config_path.parent)
        session = onnxruntime.InferenceSession(str(model_path), sess_options=session_options, providers=[provider])
        return cls(session, config, model_path)
