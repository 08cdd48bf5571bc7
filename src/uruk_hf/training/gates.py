"""Quality gates: accept a stage's checkpoint only when a validation metric beats a baseline measured on the same
validation frames (e.g. the cheap `direct` render, or the previous stage's best) by a set margin."""

from dataclasses import dataclass

__all__ = ["GateFailure", "QualityGate"]


class GateFailure(RuntimeError):
    """A quality gate rejected a stage's result; `result` holds the measured and required values."""

    def __init__(self, result: dict):
        shortfall = result["required"] - result["value"]
        super().__init__(
            f"Quality gate failed: {result['metric']} {result['value']:.2f} is {shortfall:.2f} below the required"
            f" {result['required']:.2f} ({result['baseline']} {result['baseline_value']:.2f} "
            f"+ margin {result['margin']:.2f})."
        )
        self.result = result


@dataclass(frozen=True)
class QualityGate:
    """Accept a result only if `metric` beats baseline `baseline` by `margin` (higher is better).

    Attributes:
        metric (`str`): a validation metric key (`psnr`, `ssim`, `ms_ssim`, `material_miou`, ...).
        baseline (`str`): a baseline key, e.g. the cheap render `direct`, or `previous` (the previous stage).
        margin (`float`): required advantage in the metric's unit (dB for PSNR).
    """

    metric: str = "psnr"
    baseline: str = "direct"
    margin: float = 3.0

    @classmethod
    def after_previous_stage(cls, allowed_loss: float, default_margin: float, metric: str = "psnr") -> "QualityGate":
        """A later curriculum stage's gate: `metric` at most `allowed_loss` below what the stage before it reached,
        unless the run's default gate margin (`default_margin`) is looser still: a run whose gates accept anything
        (tests of the plumbing) accepts anything here too."""
        return cls(metric=metric, baseline="previous", margin=min(-allowed_loss, default_margin))

    def measure(self, metrics: dict, baselines: dict) -> dict:
        """The gate's record (`passed` says whether the result is accepted)."""
        baseline_value = baselines[self.baseline][self.metric]
        result = {
            "metric": self.metric,
            "value": float(metrics[self.metric]),
            "baseline": self.baseline,
            "baseline_value": float(baseline_value),
            "margin": self.margin,
            "required": float(baseline_value + self.margin),
        }
        result["passed"] = result["value"] >= result["required"]
        return result

    def check(self, metrics: dict, baselines: dict) -> dict:
        """The gate's record; raises `GateFailure` (with that record) when the result falls short."""
        result = self.measure(metrics, baselines)
        if not result["passed"]:
            raise GateFailure(result)
        return result
