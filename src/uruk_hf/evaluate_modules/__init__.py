"""Local `evaluate` modules wrapping `uruk_hf.metrics` (torchmetrics, flip-evaluator), loaded by path offline.

>>> from uruk_hf.evaluate_modules import load_metric
>>> frame_quality = load_metric("uruk_frame_quality")
"""

from pathlib import Path

__all__ = ["METRIC_NAMES", "load_metric"]

METRIC_NAMES = ("uruk_frame_quality", "uruk_material_segmentation")


def load_metric(name: str):
    """`evaluate.load` of one of this package's metric modules by local path (no network).

    Raises:
        ValueError: `name` is not one of `METRIC_NAMES`.
    """
    import evaluate

    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; choose one of {list(METRIC_NAMES)}.")
    return evaluate.load(str(Path(__file__).parent / name), module_type="metric")
