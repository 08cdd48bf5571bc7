"""ONNX Runtime inference of an exported Animation Director: the call takes `(characters, input_size)` input
vectors and returns the same `UrukAnimationDirectorOutput` fields as the PyTorch model."""

from pathlib import Path

import numpy as np
import torch

from .modeling_animation_director import UrukAnimationDirectorOutput
from .onnx_animation_director import OUTPUT_NAMES

__all__ = ["UrukORTAnimationDirector"]


class UrukORTAnimationDirector:
    """An exported Animation Director on an `onnxruntime.InferenceSession` (`config`: the model's config)."""

    def __init__(self, session, config, model_path: Path | None = None):
        self.session, self.config, self.model_path = session, config, model_path

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id,
        subfolder: str = "",
        file_name: str = "model.onnx",
        provider: str = "CPUExecutionProvider",
        session_options=None,
        **hub_kwargs,
    ) -> "UrukORTAnimationDirector":
        """Loads `file_name` and `config.json` from a folder or a Hub repo (see
        `uruk_hf.modeling_utils.onnx_session_files`).

        Raises:
            FileNotFoundError: the folder has no `file_name` or `config.json`.
        """
        import onnxruntime
        from transformers import AutoConfig

        from ...modeling_utils import onnx_session_files

        model_path, config_path = onnx_session_files(path_or_repo_id, subfolder, file_name, **hub_kwargs)
        config = AutoConfig.from_pretrained(config_path.parent)
        session = onnxruntime.InferenceSession(str(model_path), sess_options=session_options, providers=[provider])
        return cls(session, config, model_path)

    def __call__(self, features: torch.Tensor | np.ndarray) -> UrukAnimationDirectorOutput:
        """Runs the session on `(characters, input_size)` input vectors.

        Raises:
            ValueError: wrong shape or NaN/Inf values.
        """
        array = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.config.input_size or not np.isfinite(array).all():
            raise ValueError(f"features must be finite (characters, {self.config.input_size}), got {array.shape}.")
        results = self.session.run(list(OUTPUT_NAMES), {"features": array})
        return UrukAnimationDirectorOutput(*(torch.from_numpy(value) for value in results))

    forward = __call__
