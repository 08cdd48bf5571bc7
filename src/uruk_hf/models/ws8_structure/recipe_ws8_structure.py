"""The WS8 structure generator family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the GPT-2 decoder on the shape grammar's token sequences, gated on held-out
log-likelihood above a token bigram's.
"""

from pathlib import Path

from ...catalog import Family, ModelEntry
from ...training.run import TIME_SCALE_OPTION, Lifecycle, save_legacy, scaled_time_budgets
from .configuration_ws8_structure import UrukWS8StructureGeneratorConfig
from .modeling_ws8_structure import UrukWS8StructureGenerator

__all__ = ["FAMILY", "train_ws8"]

_TIME_BUDGETS = {"quick": (180.0, None)}
"""Production seconds at the quick preset."""

_STAGE = {"batch_size": 64, "eval_every": 200, "warmup_steps": 50, "patience": 4}
"""Sequences per step and evaluation interval."""

_CALIBRATION_RATES = (2e-3, 4e-3, 8e-3)
"""Calibration's candidates: a small decoder on a few minutes of CPU takes a higher rate than the presets' default
candidates reach."""


def train_ws8(
    data: Path, output: Path, preset: str, resume: bool, seed: int = 0, time_scale: str | None = None
) -> dict:
    """Production of the structure generator (its budget times `time_scale`); writes the model and
    `ws8_structure_generator/best_model.pt`."""
    budgets = scaled_time_budgets(_TIME_BUDGETS, time_scale)
    lifecycle = Lifecycle(
        FAMILY, data, output, preset, resume, budgets, _STAGE, calibration_learning_rates=_CALIBRATION_RATES, seed=seed
    )
    model, record, learning_rate = lifecycle.train_model("ws8_structure_generator", None)
    save_legacy(model, lifecycle.legacy_path("ws8_structure_generator"), "production", record["best"])
    return lifecycle.write({"learning_rate": learning_rate, "time_scale": time_scale})


FAMILY = Family(
    name="ws8",
    title="WS8 structure generator",
    dataset_kind="block_structures",
    task="uruk_hf.training.tasks.structure_generation:StructureGenerationTask",
    train=train_ws8,
    options=(TIME_SCALE_OPTION,),
    onnx_config="uruk_hf.models.ws8_structure.onnx_ws8_structure:UrukWS8StructureGeneratorOnnxConfig",
    models=(
        ModelEntry(
            key="ws8_structure_generator",
            model_class=UrukWS8StructureGenerator,
            config_class=UrukWS8StructureGeneratorConfig,
            run_folder="ws8/models/ws8_structure_generator",
            subfolder="ws8_structure_generator",
            budget=2_830_000,
            description=(
                "WS8 structure generator: block structures (tower, wall, arch, bridge, stairs, house) on a 32^3 grid, "
                "sampled token by token with `generate()` from a class token or completed from a user's partial "
                "structure, learned from the library's shape grammar."
            ),
            legacy_files=("ws8_structure_generator/best_model.pt",),
            curve=("ws8/production",),
            seed_claims=(("WS8: structure generator", None, "validity and class adherence of 1,000 samples"),),
        ),
    ),
    limitations={
        "ws8_structure_generator": [
            "It learns the library's shape grammar, which it was trained on: the grammar itself is always valid and "
            "faster, so the model earns its place by completing partial structures and sampling a learned "
            "distribution, not by beating the grammar at its own classes.",
            "It never repairs a sample: an invalid structure (a floating or overlapping block) is returned as is "
            "and counted in the validity rate; check `Structure.is_valid` before building one.",
        ]
    },
)
