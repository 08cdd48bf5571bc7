"""The WS8 structure generator family: its registry entry and its lifecycle (DESIGN §4).

Smoke -> Calibration -> Production of the GPT-2 decoder on the shape grammar's token sequences, gated on held-out
log-likelihood above a token bigram's; then, when asked, rounds of **self-training** (expert iteration): the model
samples structures at temperature 1, those valid with no repair and of their class are kept, and a short stage
trains on them beside some of the grammar's own. Each round is judged by the share of fresh samples kept; the
rounds stop when that share has not risen for more than `_PATIENCE` rounds, and the model is the best round's.
"""

import copy
import random
from pathlib import Path

from ...catalog import Family, ModelEntry, TrainOption
from ...training.run import TIME_SCALE_OPTION, Lifecycle, positive_number, save_legacy, scaled_time_budgets
from ...training.tasks.structure_generation import SequenceList
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


_SELF_TRAINING = {"samples": 2000, "learning_rate": 1e-3, "max_steps": 200, "warmup_steps": 20}
"""Per self-training round: structures sampled (and the share kept measured on them), and the stage's settings
(the rate restarts from a short warmup and anneals within the round)."""

_PATIENCE = 1
"""Rounds in a row whose share kept may stay at or below the best before the rounds stop: one round's share moves
by about a point between samplings of 2,000, so one round that does not rise is not yet a plateau."""

_GRAMMAR_SHARE = 0.15
"""The share of a round's training sequences drawn from the grammar's training split (the rest: the kept samples of
the last four rounds), so that the model does not drift from the grammar's distribution."""


def self_train(lifecycle: Lifecycle, model, rounds: int, seed: int) -> tuple[object, dict | None]:
    """Up to `rounds` self-training rounds of `model` (see the module docstring); returns the model holding the
    weights of the round with the highest share kept (Production's if none beat it) and that round's stage record
    (`None` for Production's). The shares are the lifecycle's `self_training` stage."""
    task, samples = lifecycle.task, _SELF_TRAINING["samples"]
    grammar = lifecycle.train.sequences
    max_steps = min(_SELF_TRAINING["max_steps"], lifecycle.budget.stage.max_steps)  # the tiny preset's few
    warmup_steps = min(_SELF_TRAINING["warmup_steps"], max_steps)
    pool, rates, best, last_record = [], [], (None, None, None), None  # best: (share kept, weights, record)
    for round_index in range(1, rounds + 2):
        kept, rate = task.self_training_sequences(model, samples, seed=1000 * seed + round_index)
        rates.append(rate)
        if best[0] is None or rate > best[0]:
            best = (rate, copy.deepcopy(model.state_dict()), last_record)
        elif len(rates) - 1 - rates.index(best[0]) > _PATIENCE:
            break
        pool = (pool + kept)[-4 * samples :]
        if round_index > rounds or not pool:
            break
        shuffle = random.Random(1000 * seed + round_index)
        mixed = pool + shuffle.sample(grammar, round(len(pool) * _GRAMMAR_SHARE / (1 - _GRAMMAR_SHARE)))
        (last_record,) = lifecycle.accelerate_curriculum(
            model,
            [(f"self_training_{round_index}", None, None)],
            _SELF_TRAINING["learning_rate"],
            None,
            [lifecycle.gate()],
            train_dataset=SequenceList(mixed),
            max_steps=max_steps,
            warmup_steps=warmup_steps,
            eval_every=max_steps,
        )
    model.load_state_dict(best[1])
    lifecycle.stages["self_training"] = {
        "stage": "self_training",
        "samples_per_round": samples,
        "share_kept": rates,
        "rounds_trained": len(rates) - 1,
        "chosen_round": rates.index(best[0]),
    }
    return model, best[2]


def train_ws8(
    data: Path,
    output: Path,
    preset: str,
    resume: bool,
    seed: int = 0,
    time_scale: str | None = None,
    self_training_rounds: str | None = None,
) -> dict:
    """Production of the structure generator (its budget times `time_scale`), then `self_training_rounds` rounds of
    self-training (none by default); writes the model and `ws8_structure_generator/best_model.pt`."""
    budgets = scaled_time_budgets(_TIME_BUDGETS, time_scale)
    lifecycle = Lifecycle(
        FAMILY, data, output, preset, resume, budgets, _STAGE, calibration_learning_rates=_CALIBRATION_RATES, seed=seed
    )
    key = "ws8_structure_generator"
    model, record, learning_rate = lifecycle.train_model(key, None)
    stage = "production"
    rounds = int(positive_number(self_training_rounds, "--self-training-rounds")) if self_training_rounds else 0
    if rounds:
        model, round_record = self_train(lifecycle, model, rounds, seed)
        if round_record is not None:
            record, stage = round_record, round_record["stage"]
            lifecycle.save_model(key, model, record)
    save_legacy(model, lifecycle.legacy_path(key), stage, record["best"])
    return lifecycle.write({"learning_rate": learning_rate, "time_scale": time_scale, "self_training_rounds": rounds})


FAMILY = Family(
    name="ws8",
    title="WS8 structure generator",
    dataset_kind="block_structures",
    task="uruk_hf.training.tasks.structure_generation:StructureGenerationTask",
    train=train_ws8,
    options=(
        TIME_SCALE_OPTION,
        TrainOption(
            "--self-training-rounds",
            "after Production, up to this many rounds of training on the model's own valid samples of their class "
            "(2,000 sampled per round, about 2 minutes a round on 2 cores at quick size; none by default)",
        ),
    ),
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
