"""The task interface taken by the Accelerate stage loop, Smoke, Calibration, the quality gates and
`UrukDistillationTrainer`.

A task is built for one model config (`Family.make_task(config)`) and answers every question the loops would
otherwise hard-wire for one kind of model: how the dataset's items become batches, how a batch goes through the
model and is scored, what validation measures, what a gate compares with, which checkpoint is best, and what a
teacher adds to a student's loss. The loops only move weights, count steps and keep records.
"""

from pathlib import Path

import torch

__all__ = ["Task"]


class Task:
    """Base class of the tasks (see the module docstring); subclasses implement the methods that raise.

    Attributes:
        gate_metric (`str`): the validation metric the lifecycle's default gate checks (higher is better).
        gate_baseline (`str`): the key of `gate_baselines` the default gate compares with.
        loss_weights_class (`type`): the dataclass of the task's loss-term weights (`StageSettings.weights`).
        gate_margin_scale (`float`): the gate metric's units per unit of the preset's gate margin (1 for dB of
            PSNR; 0.01 for an accuracy in [0, 1], so that a margin counts points).
        report_columns (`tuple[tuple[str, str], ...]`): `(metric, header)` of the results tables and cards.
        curve_metrics (`tuple[tuple[str, str], ...]`): `(metric, axis label)` of the training-curve figure.
        int8_metrics (`tuple[str, ...]`): metrics whose change under int8 quantization the card reports.
        card_template (`str`): the model card template (`uruk_hf/publish/templates/`).
        card_tags (`tuple[str, ...]`): the model card's tags (empty: the seed card's).
    """

    gate_metric: str = "score"
    gate_baseline: str = ""
    gate_margin_scale: float = 1.0
    report_columns: tuple[tuple[str, str], ...] = ()
    curve_metrics: tuple[tuple[str, str], ...] = ()
    int8_metrics: tuple[str, ...] = ()
    card_template: str = "model_card.md.j2"
    card_tags: tuple[str, ...] = ()
    loss_weights_class: type | None = None

    def __init__(self, config):
        self.config = config

    # Data -----------------------------------------------------------------------------------------------------
    def dataset(self, data: str | Path, split: str, max_items: int | None = None) -> torch.utils.data.Dataset:
        """The items of `split` of the dataset folder `data` that a batch is built from."""
        raise NotImplementedError

    def collate(self, items: list[dict]) -> dict:
        """A batch from dataset items (the `DataLoader` and `Trainer` collator)."""
        raise NotImplementedError

    # Learning -------------------------------------------------------------------------------------------------
    def forward(self, model, batch: dict):
        """The model's outputs on `batch` (whatever `loss` and `evaluate` read)."""
        raise NotImplementedError

    def loss(self, outputs, batch: dict, weights) -> torch.Tensor:
        """The training loss of `outputs` under the loss-term `weights`."""
        raise NotImplementedError

    def parameter_groups(self, model) -> list[dict]:
        """Optimizer parameter groups, each with an `lr_scale` (multiplier of the stage's rate); one group by
        default."""
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]

    def auxiliary_step(self, outputs, batch: dict, weights) -> dict[str, float]:
        """Trains the task's own auxiliary models (e.g. a discriminator) one step on `outputs`, after the model's
        optimizer step on the same batch; returns scalars to log. Nothing by default."""
        return {}

    def state_dict(self) -> dict:
        """The state of the task's own auxiliary models and optimizers (tensors and plain containers), saved with
        every training checkpoint so that a resumed stage continues them; empty by default."""
        return {}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        """Restores what `state_dict` returned, the auxiliary models on `device`; nothing by default."""

    def save_extras(self, folder: Path) -> None:
        """Writes what loads beside the weights (a processor's config); nothing by default."""

    # Distillation ---------------------------------------------------------------------------------------------
    def uses_teacher(self, terms) -> bool:
        """Whether the teacher terms `terms` need the teacher's outputs."""
        return False

    def teacher_outputs(self, teacher, batch: dict):
        """The frozen teacher's outputs on `batch`."""
        with torch.no_grad():
            return self.forward(teacher, batch)

    def distillation_loss(self, student_outputs, teacher_outputs, batch: dict, weights, terms) -> torch.Tensor:
        """The student's loss: the task loss plus the teacher terms `terms`."""
        raise NotImplementedError

    def prepare_student(self, student, teacher) -> dict:
        """Hands the student what it takes from its teacher before training; returns what it did, for the
        record (nothing by default)."""
        return {}

    # Measurement ----------------------------------------------------------------------------------------------
    def evaluate(self, model, dataset, full: bool = False) -> dict[str, float]:
        """Metrics of `model` on `dataset` (`full`: every metric, also the slow ones kept out of validation)."""
        raise NotImplementedError

    def gate_baselines(self, dataset) -> dict[str, dict[str, float]]:
        """Baselines a gate may compare with, measured on `dataset`, by name."""
        return {}

    def tune_inference(self, model, dataset) -> dict:
        """Chooses, on `dataset` (the validation split), the inference settings of the trained `model` that no
        training step sets (a sampler's guidance scale), writes them into `model.config` and returns what was
        measured, for the record; nothing by default."""
        return {}

    def selection_score(self, metrics: dict, weights) -> float:
        """The score that makes a checkpoint the best of a stage (higher is better)."""
        return float(metrics[self.gate_metric])

    def separate_heads(self, model, weights) -> dict[str, tuple[str, ...]]:
        """Heads of `model` whose checkpoint a stage under `weights` picks on their own metrics, as
        `{module name: (selection metric, other metrics it decides, ...)}`: heads that share no parameter with the
        rest of the model, so that their best evaluation never decides the rest's checkpoint (nothing by
        default)."""
        return {}

    # Reporting ----------------------------------------------------------------------------------------------
    @classmethod
    def headline(cls, metrics: dict) -> str:
        """The few figures that sum up `metrics` in one line (the root card, baseline summaries); only the metrics
        present are named."""
        from ...tables import format_metric

        parts = []
        for key, header in cls.report_columns[:2]:
            if key in metrics:
                label, _, unit = header.partition(" (")
                unit = f" {unit.rstrip(')')}" if unit else ""
                parts.append(f"{label.removesuffix(' %')} {format_metric(key, metrics[key], True)}{unit}")
        return ", ".join(parts)

    def eval_results(self, metrics: dict) -> list[tuple[str, str, float]]:
        """`(task type, metric type, value)` of the card's `model-index` results."""
        return []

    def card_baselines(self, names: list[str]) -> list[str]:
        """Which of the dataset's reported baselines (`names`, in order) this model's card shows beside it: all by
        default."""
        return list(names)

    def outputs_finite(self, outputs) -> bool:
        """Whether every output tensor is finite (Smoke)."""
        raise NotImplementedError

    def outputs_difference(self, first, second) -> float:
        """The largest absolute difference between two outputs of the same batch (Smoke's round trip)."""
        raise NotImplementedError
