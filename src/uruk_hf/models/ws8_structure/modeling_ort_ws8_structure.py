"""ONNX Runtime inference of an exported WS8 structure generator: Optimum's `ORTModelForCausalLM` (transformers'
`generate()` over an `onnxruntime.InferenceSession` with the KV cache) with the generator's field ranges, loaded
from a folder or a Hub repo id (with `subfolder`, offline through the local cache)."""

from optimum.onnxruntime import ORTModelForCausalLM

from ...modeling_utils import onnx_model_files
from .modeling_ws8_structure import StructureGenerationMixin

__all__ = ["UrukORTWS8StructureGenerator"]

_HUB_OPTIONS = ("revision", "cache_dir", "token", "local_files_only", "force_download")


class UrukORTWS8StructureGenerator(StructureGenerationMixin, ORTModelForCausalLM):
    """An exported structure generator (`uruk export onnx`, `UrukWS8StructureGeneratorOnnxConfig`) on ONNX Runtime.
    Its `generate()` is the PyTorch model's: every token inside its field's range, `max_length` the layout's
    longest sequence; prompts, sampling and logits processors as there. The same seed samples the same tokens
    as the PyTorch model up to float rounding.

    Example:

    ```python
    >>> import torch
    >>> from uruk_hf import UrukORTWS8StructureGenerator
    >>> from uruk_hf.data.grammar.structures import Structure

    >>> model = UrukORTWS8StructureGenerator.from_pretrained("org/uruk", subfolder="ws8_structure_generator")
    >>> layout = model.config.token_layout()
    >>> prompt = torch.tensor([Structure("tower").to_tokens(layout, end=False)])
    >>> structure = Structure.from_tokens(model.generate(prompt, do_sample=True)[0].tolist(), layout)
    ```
    """

    @classmethod
    def from_pretrained(cls, path_or_repo_id, subfolder: str = "", file_name: str = "model.onnx", **kwargs):
        """Loads `file_name` (e.g. `model.int8.onnx`) and `config.json` from a folder (`path_or_repo_id/subfolder`)
        or a Hub repo, through `huggingface_hub`'s cache (so `HF_HUB_OFFLINE=1` works once it is there); other
        `kwargs` go to `ORTModelForCausalLM.from_pretrained` (e.g. `session_options`).

        Raises:
            FileNotFoundError: the folder has no `file_name` or `config.json`.
        """
        hub_kwargs = {name: kwargs.pop(name) for name in _HUB_OPTIONS if name in kwargs}
        model_path, _ = onnx_model_files(path_or_repo_id, subfolder, file_name, **hub_kwargs)
        return super().from_pretrained(model_path.parent, file_name=file_name, **kwargs)
