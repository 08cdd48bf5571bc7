"""ONNX Runtime inference of an exported NPC Director, in the style of Optimum's `ORTModel`: `from_pretrained`
takes a folder or a Hub repo id (with `subfolder`), the call takes observation windows and returns the same
`UrukNPCDirectorOutput` fields as the PyTorch model."""

from pathlib import Path

import numpy as np
import torch

from .modeling_npc_director import UrukNPCDirectorOutput

__all__ = ["UrukORTNPCDirector"]


class UrukORTNPCDirector:
    """An exported NPC Director on an `onnxruntime.InferenceSession`.

    Args:
        session: the inference session of `model.onnx` (or a quantized variant).
        config: the model's config (`AutoConfig` of the same folder).
        model_path: where the ONNX file was loaded from.
    """

    def __init__(self, session, config, model_path: Path | None = None):
        self.session, self.config, self.model_path = session, config, model_path

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | Path,
        subfolder: str = "",
        file_name: str = "model.onnx",
        provider: str = "CPUExecutionProvider",
        session_options=None,
        **hub_kwargs,
    ) -> "UrukORTNPCDirector":
        """Loads `file_name` and `config.json` from a folder (`path_or_repo_id/subfolder`) or a Hub repo (through
        the local cache when `HF_HUB_OFFLINE=1`; `hub_kwargs` go to `hf_hub_download`).

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

    def __call__(self, observations: torch.Tensor | np.ndarray) -> UrukNPCDirectorOutput:
        """Runs the session on `(batch, ticks, observation_size)` windows and returns the logits as tensors.

        Raises:
            ValueError: wrong shape, more ticks than the window, or NaN/Inf values.
        """
        if not isinstance(observations, torch.Tensor | np.ndarray):
            raise TypeError(f"observations must be a numpy array or torch tensor, got {type(observations).__name__}.")
        array = observations.detach().cpu().numpy() if isinstance(observations, torch.Tensor) else observations
        array = np.ascontiguousarray(array, dtype=np.float32)
        size, window = self.config.observation_size, self.config.window
        if array.ndim != 3 or array.shape[-1] != size or 0 in array.shape or array.shape[1] > window:
            raise ValueError(f"observations must be (batch, 1..{window} ticks, {size}), got {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError("observations hold NaN/Inf values.")
        states, moves = self.session.run(["state_logits", "move_logits"], {"observations": array})
        return UrukNPCDirectorOutput(state_logits=torch.from_numpy(states), move_logits=torch.from_numpy(moves))

    forward = __call__
