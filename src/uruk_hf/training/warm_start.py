"""Warm starts: initialize a model from earlier weights, reporting every mismatch instead of skipping it silently.

V2-Optimized "initializes from V1 weights" (the seed card): here, the V2-Ultra student's stage-1 checkpoint. Any
compatible source works: a Hub-format folder (`config.json` + `model.safetensors`), a `.safetensors` file, or a
legacy `.pt` checkpoint (read with `weights_only=True`).
"""

import logging
from pathlib import Path

import torch

from ..legacy import load_legacy_checkpoint
from ..serialization import load_safetensors_file

__all__ = ["WarmStartError", "load_initial_weights"]

logger = logging.getLogger(__name__)


class WarmStartError(ValueError):
    """The source's weights cannot initialize the model (shapes differ, or no parameter name matches)."""


def _read_state_dict(source: Path) -> dict[str, torch.Tensor]:
    if source.is_dir():
        weights = source / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"{source} is not a Hub-format model folder: it has no model.safetensors.")
        return load_safetensors_file(weights)
    if source.suffix == ".safetensors":
        return load_safetensors_file(source)
    if source.suffix in (".pt", ".pth", ".bin"):
        return load_legacy_checkpoint(source)["model_state_dict"]
    raise ValueError(f"Cannot read weights from {source}: expected a folder, .safetensors or .pt file.")


def load_initial_weights(model: torch.nn.Module, source: str | Path, reinitialize: tuple[str, ...] = ()) -> dict:
    """Copies the weights of `source` into `model` and returns the report: `source`, `loaded` (tensor count),
    `missing` (the model's tensors the source lacks: they keep their initialization), `unexpected` (source
    tensors the model has no place for) and `reinitialized` (tensors under `reinitialize` whose shape differs: they
    keep their initialization). Missing or unexpected names are logged as warnings and reported.

    Args:
        reinitialize: name prefixes of the model's tensors that may differ in shape from the source's (a head
            that the new model sizes otherwise, e.g. a filter with more taps).

    Raises:
        FileNotFoundError: `source` does not exist.
        WarmStartError: a tensor outside `reinitialize` differs in shape (every such name is listed), or no name
            matches at all.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"No weights at {source}.")
    state = _read_state_dict(source)
    own = model.state_dict()
    differing = [name for name, tensor in state.items() if name in own and own[name].shape != tensor.shape]
    reinitialized = [name for name in differing if name.startswith(tuple(reinitialize))]
    mismatched = [
        f"{name}: source {tuple(state[name].shape)} vs model {tuple(own[name].shape)}"
        for name in differing
        if name not in reinitialized
    ]
    if mismatched:
        raise WarmStartError(f"{source} does not fit the model; shapes differ for: " + "; ".join(mismatched))
    matched = [name for name in state if name in own and name not in reinitialized]
    if not matched:
        raise WarmStartError(f"{source} shares no parameter name with {type(model).__name__}.")
    result = model.load_state_dict({name: state[name] for name in state if name not in reinitialized}, strict=False)
    report = {
        "source": str(source),
        "loaded": len(matched),
        "missing": [name for name in result.missing_keys if name not in reinitialized],
        "unexpected": list(result.unexpected_keys),
        "reinitialized": reinitialized,
    }
    if report["missing"] or report["unexpected"] or reinitialized:
        logger.warning(
            "Warm start from %s: %d tensors loaded; missing (kept initialized): %s; unexpected (ignored): %s; "
            "reinitialized (shape differs): %s",
            source,
            report["loaded"],
            report["missing"],
            report["unexpected"],
            reinitialized,
        )
    return report
