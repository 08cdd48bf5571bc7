"""`evaluate` module: per-pixel material accuracy, mean IoU and class-balanced accuracy on labelled pixels.

The computation is `uruk_hf.metrics.material_metrics`; labels below 0 (background, lights) are ignored.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Semantic material segmentation scored on pixels with geometry and a class (label >= 0):
per-pixel accuracy, mean IoU over classes present in prediction or label, and class-balanced accuracy."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class maps, each (H, W) integers.
    references: label maps, each (H, W), -100 where there is no class.
    num_labels: number of classes.
Returns:
    material_accuracy, material_miou, material_balanced_accuracy: floats in [0, 1].
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UrukMaterialSegmentation(evaluate.Metric):
    """Material accuracy, mean IoU and class-balanced accuracy on labelled pixels."""

    def _info(self):
        label_map = datasets.Sequence(datasets.Sequence(datasets.Value("int64")))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": label_map, "references": label_map}),
        )

    def _compute(self, predictions, references, num_labels: int):
        from uruk_hf.metrics import material_metrics

        predicted = np.concatenate([np.asarray(p).ravel() for p in predictions])
        labels = np.concatenate([np.asarray(r).ravel() for r in references])
        return material_metrics(predicted, labels, num_labels)
