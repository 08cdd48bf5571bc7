"""ONNX Runtime inference of an exported renderer, in the style of Optimum's `ORTModel`: `from_pretrained` takes a
local folder or a Hub repo id (with `subfolder`), the call takes the processor's `pixel_values` and returns the same
`UrukRendererOutput` fields as the PyTorch model."""

from pathlib import Path

import numpy as np
import torch

from .modeling_gbuffer_renderer import UrukRendererOutput, check_pixel_values_finite, check_pixel_values_shape

__all__ = ["UrukORTRenderer"]


class UrukORTRenderer:
    """An exported renderer on an `onnxruntime.InferenceSession`.

    Args:
        session: the inference session of `model.onnx` (or a quantized variant).
        config: the model's config (`AutoConfig` of the same folder): layout, labels, model type.
        model_path: where the ONNX file was loaded from.
    """

    def __init__(self, session, config, model_path: Path | None = None):
        self.session, self.config, self.model_path = session, config, model_path
        self.output_names = [output.name for output in session.get_outputs()]

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | Path,
        subfolder: str = "",
        file_name: str = "model.onnx",
        provider: str = "CPUExecutionProvider",
        session_options=None,
        **hub_kwargs,
    ) -> "UrukORTRenderer":
        """Loads `file_name` and `config.json` from a folder (`path_or_repo_id/subfolder`) or from a Hub repo (through
        the local cache when `HF_HUB_OFFLINE=1`; `hub_kwargs` go to `hf_hub_download`, e.g. `revision`).

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

    def __call__(self, pixel_values: torch.Tensor | np.ndarray) -> UrukRendererOutput:
        """Runs the session on `(batch, num_channels, height, width)` packed buffers (as `UrukGBufferProcessor`
        returns them) and returns `frame` (linear HDR) and `material_logits` (where the model has them) as tensors.

        Raises:
            TypeError: `pixel_values` is neither a tensor nor a numpy array.
            ValueError: wrong rank or channel count (the message lists the expected layout), an empty batch or
                frame, or NaN/Inf values (the message names their buffers).
        """
        if not isinstance(pixel_values, torch.Tensor | np.ndarray):
            raise TypeError(f"pixel_values must be a numpy array or torch tensor, got {type(pixel_values).__name__}.")
        array = pixel_values.detach().cpu().numpy() if isinstance(pixel_values, torch.Tensor) else pixel_values
        array = np.ascontiguousarray(array, dtype=np.float32)
        check_pixel_values_shape(array.shape, self.config, self.config.model_type)
        check_pixel_values_finite(torch.from_numpy(array), self.config)
        results = dict(zip(self.output_names, self.session.run(self.output_names, {"pixel_values": array})))
        logits = results.get("material_logits")
        return UrukRendererOutput(
            frame=torch.from_numpy(results["frame"]),
            material_logits=None if logits is None else torch.from_numpy(logits),
        )

    forward = __call__
