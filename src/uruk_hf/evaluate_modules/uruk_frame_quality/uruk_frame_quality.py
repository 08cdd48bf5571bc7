"""`evaluate` module: PSNR, SSIM, MS-SSIM and FLIP of linear-HDR frames after the Uruk tone map.

The computation is `uruk_hf.metrics.frame_metrics` (torchmetrics and flip-evaluator); this module only gives it
the `evaluate` interface (`add_batch`, `compute`).
"""

import datasets
import evaluate
import numpy as np
import torch

_DESCRIPTION = """Frame quality of linear-HDR renders against a reference, compared after the tone map
x / (1 + x) and the sRGB curve with data_range=1: PSNR (dB), SSIM, MS-SSIM (small-resolution settings below 176 px)
and FLIP (an error, lower is better). Means over frames."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: linear-HDR frames, each (3, H, W) (channels first), non-negative.
    references: reference frames of the same shape.
    flip: compute FLIP too (default True).
Returns:
    psnr, ssim, ms_ssim, flip: floats.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UrukFrameQuality(evaluate.Metric):
    """PSNR, SSIM, MS-SSIM and FLIP after the Uruk tone map."""

    def _info(self):
        frame = datasets.Sequence(datasets.Sequence(datasets.Sequence(datasets.Value("float32"))))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": frame, "references": frame}),
        )

    def _compute(self, predictions, references, flip: bool = True):
        from uruk_hf.metrics import frame_metrics

        def stack(frames):
            return torch.from_numpy(np.stack([np.asarray(frame, np.float32) for frame in frames]))

        return frame_metrics(stack(predictions), stack(references), flip=flip)
